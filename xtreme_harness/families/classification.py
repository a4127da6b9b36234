"""Sentence-pair classification (XNLI, PAWS-X).

As XTREME's ``run_classify.py``: the pair goes through the tokenizer's own pair
template (``[CLS] a [SEP] b [SEP]``, ``<s> a </s></s> b </s>``), cut to
``max_length`` with the ``longest_first`` strategy, and the prediction is the
argmax of the logits.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..formats import lines
from ..formats.examples import PairExample
from ..formats.pairs import read_pairs_tsv
from .base import (
    MODEL_INPUTS,
    Family,
    FeatureList,
    Predictions,
    cached_rows,
    keep_logits,
    require_fast,
)
from .tokens import Rows, call, pair_rows, with_types


def featurize(examples: Sequence[PairExample], tokenizer: Any, max_length: int = 128,
              label2id: Mapping[str, int] | None = None) -> FeatureList:
    """One feature per example: input_ids, attention_mask, [token_type_ids], example_index, truncated.

    ``label2id`` (for training) adds ``labels``; examples without a gold label
    get -100, the loss's ignore index.
    """
    require_fast(tokenizer)
    feats = FeatureList(stats={"examples": len(examples), "features": 0, "truncated": 0})
    if not examples:
        return feats
    a = [ex.text_a for ex in examples]
    b = [ex.text_b for ex in examples]
    enc = call(tokenizer, a, b, truncation="longest_first", max_length=max_length)
    # A second, untruncated pass only where the result is full, to count truncation honestly.
    full_idx = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= max_length]
    truncated = set()
    if full_idx:
        lens = call(tokenizer, [a[i] for i in full_idx], [b[i] for i in full_idx], truncation=False,
                    verbose=False)["input_ids"]
        truncated = {i for i, ids in zip(full_idx, lens) if len(ids) > max_length}
    keys = [k for k in MODEL_INPUTS if k in enc]
    for i, ex in enumerate(examples):
        f = {k: list(enc[k][i]) for k in keys}
        f["example_index"] = i
        f["truncated"] = i in truncated
        if label2id is not None:
            f["labels"] = label2id[ex.label] if ex.label is not None else -100
        feats.append(f)
    feats.stats["features"] = len(feats)
    feats.stats["truncated"] = len(truncated)
    return feats


def featurize_rows(examples: Sequence[PairExample], tokenizer: Any, max_length: int = 128) -> Rows:
    """What :func:`featurize` makes (without training labels), as :class:`~.tokens.Rows`: one row per example,
    per-row ``example_index`` and ``truncated``, from the tokenizer's Rust batch encoder directly."""
    require_fast(tokenizer)
    n = len(examples)
    types = with_types(tokenizer)
    if not examples:
        return Rows.empty(types, {"examples": 0, "features": 0, "truncated": 0})
    a = [ex.text_a for ex in examples]
    b = [ex.text_b for ex in examples]
    rows, whole = pair_rows(tokenizer, a, b, max_length, types)
    truncated = whole > max_length
    rows.row = {"example_index": np.arange(n, dtype=np.int64), "truncated": truncated}
    rows.stats = {"examples": n, "features": n, "truncated": int(truncated.sum())}
    return rows


def decode(logits: np.ndarray, labels: Mapping[int, str]) -> list[str]:
    """Row-wise argmax over the model label ids that ``labels`` maps to task labels, as task labels.

    An id the map leaves out is never predicted. Ties go to the lowest id
    (numpy's argmax), as ``np.argmax`` in XTREME.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape [n, num_labels], got {logits.shape}")
    ids = sorted(labels)
    if not ids:
        raise ValueError("no model label maps to a task label")
    if ids[-1] >= logits.shape[1]:
        raise ValueError(f"the label map has id {ids[-1]} but the logits have {logits.shape[1]} columns")
    best = np.asarray(ids)[np.argmax(logits[:, ids], axis=1)]
    return [labels[int(i)] for i in best]


class Classification(Family):
    name = "classification"
    head = "ForSequenceClassification"
    auto_class = "AutoModelForSequenceClassification"
    formats = ("tsv_pair",)
    submissions = ("labels",)
    needs_labels = True
    defaults = {"max_length": 128}

    def read(self, spec, paths, lang, limit):
        return read_pairs_tsv(paths["data"], spec.labels, paths.get("gold"), limit, lang)

    def read_hf(self, spec, ds, lang, limit, where):
        from ..formats.hub import class_names, head, label_name

        ds = head(ds, limit)
        cols = spec.hf.columns
        names = class_names(ds, cols["label"]) if "label" in cols else None
        out = []
        for k, row in enumerate(ds):
            label = row.get(cols.get("label", ""), None)
            label = None if label in (None, "", -1) else label_name(label, names, spec.labels, where)
            out.append(PairExample(id=f"{lang}-{k}", text_a=row[cols["text_a"]], text_b=row[cols["text_b"]],
                                   label=label))
        return out

    def gold(self, spec, examples):
        return [ex.label for ex in examples] if examples and all(ex.label is not None for ex in examples) else None

    source_roles = (frozenset({"text_a", "text_b", "label"}), frozenset({"id"}))
    tsv_pair_columns = {"text_a": "0", "text_b": "1", "label": "2"}

    def from_record(self, spec, record, ex_id):
        label = record.label(record.col("label"), "label")
        if label is None:
            return None
        return PairExample(id=ex_id, text_a=str(record.col("text_a")), text_b=str(record.col("text_b")), label=label)

    def rows(self, examples, head, settings, ahead=False):
        m = settings["max_length"]
        return cached_rows(head, "classification", {"max_length": m},
                           lambda: featurize_rows(examples, head.tokenizer, max_length=m), ahead)

    def logits(self, examples, head, settings, desc: str = ""):
        """The head's logits, one row per example, and the featurisation counts."""
        rows = self.rows(examples, head, settings)
        outs = head.run(rows, keep_logits, desc=desc)
        n_labels = len(head.labels or ())
        values = outs["logits"] if len(rows) else np.zeros((0, n_labels))
        return values, dict(rows.stats)

    def predict(self, spec, examples, settings, model, lang=""):
        values, stats = self.logits(examples, model, settings, f"{spec.task}/{lang}")
        return Predictions(spec.task, lang, examples, decode(values, model.labels), stats)

    def train_features(self, spec, examples, tokenizer, settings, labels=None):
        return featurize(examples, tokenizer, max_length=settings["max_length"],
                         label2id={label: i for i, label in enumerate(labels or ())})

    def collate(self, features, pad_id):
        import torch

        batch = super().collate(features, pad_id)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def training_head(self, hidden, num_labels, dropout):
        """RoBERTa's classification head on the first token."""
        from torch import nn

        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.Tanh(), nn.Dropout(dropout),
                             nn.Linear(hidden, num_labels))

    def head_outputs(self, head, hidden, input_shape, targets):
        from torch.nn import functional as F

        out = {"logits": head(hidden[:, 0])}
        if targets.get("labels") is not None:
            out["loss"] = F.cross_entropy(out["logits"].float(), targets["labels"])
        return out

    def read_pair(self, spec, pred_path, label_path):
        labels = lines.not_empty(lines.read_label_lines(label_path, spec.labels, "labels file"), label_path,
                                 "one label per line")
        preds = lines.read_label_lines(pred_path, spec.labels, "prediction file")
        lines.same_length(pred_path, label_path, len(preds), len(labels), "lines")
        return labels, preds

    def read_output(self, spec, path):
        return len(lines.read_label_lines(path, spec.labels, "prediction file"))
