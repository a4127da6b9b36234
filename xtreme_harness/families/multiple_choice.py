"""Multiple choice (XCOPA; HellaSwag, Cosmos QA, CommonsenseQA as intermediate tasks): one score per choice.

Each choice is one pair sequence through the tokenizer's pair template, cut to
``max_length`` with ``longest_first``; the first segment is the context (or the
question when there is none), the second the choice (after the question when
there is both). A ``*ForMultipleChoice`` head scores every sequence and the
prediction is the argmax over an item's choices, the first on ties
(``np.argmax``), as XTREME-R's ``third_party/run_xcopa.py``.

XCOPA's items are encoded as ``run_xcopa.py`` encodes them: first segment
``f"{premise} What was the {question}?"`` (``question`` is the English word
``cause`` or ``effect`` in every language), second segment the choice, one
pair per choice. Predictions are JSON lines ``{"label": <int>}``, which
``evaluate.py``'s ``read_xcopa`` reads and compares with ``==`` (so an integer
label never equals the string ``"1"``: both files must hold integers).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

from ..formats import lines
from ..formats.examples import ChoiceExample
from ..formats.xcopa import read_label_jsonl, read_xcopa
from ..io.errors import UserError
from ..io.files import present
from .base import MODEL_INPUTS, Family, FeatureList, Predictions, cached_rows, pad_rows
from .tokens import Rows, call, pair_rows, with_types


def pair_texts(ex: ChoiceExample) -> list[tuple[str, str]]:
    """The (first, second) segments of each choice."""
    first = ex.context or ex.question
    lead = ex.question if ex.context and ex.question else ""
    return [(first, f"{lead} {choice}".strip() if lead else choice) for choice in ex.choices]


def featurize(examples: Sequence[ChoiceExample], tokenizer: Any, max_length: int = 128) -> FeatureList:
    """One feature per item holding one encoded sequence per choice (``choices``) and its gold index (``labels``)."""
    firsts, seconds = [], []
    for ex in examples:
        for a, b in pair_texts(ex):
            firsts.append(a)
            seconds.append(b)
    enc = call(tokenizer, firsts, seconds, truncation="longest_first", max_length=max_length) if firsts else {}
    keys = [k for k in MODEL_INPUTS if k in enc]
    feats = FeatureList(stats={"examples": len(examples)})
    k = 0
    truncated = 0
    for i, ex in enumerate(examples):
        choices = []
        for _ in ex.choices:
            choices.append({key: list(enc[key][k]) for key in keys})
            truncated += len(enc["input_ids"][k]) >= max_length
            k += 1
        feats.append({"choices": choices, "labels": ex.label if ex.label is not None else -100,
                      "example_index": i})
    feats.stats["features"] = len(feats)
    feats.stats["full_length_sequences"] = truncated
    return feats


def featurize_rows(examples: Sequence[ChoiceExample], tokenizer: Any, max_length: int = 128) -> Rows:
    """Every choice of every item as one row (items in order, their choices in order), as :func:`featurize`
    encodes them, from the tokenizer's Rust batch encoder; per-row ``owner`` is the item a choice belongs to."""
    firsts, seconds, owner = [], [], []
    for i, ex in enumerate(examples):
        for a, b in pair_texts(ex):
            firsts.append(a)
            seconds.append(b)
            owner.append(i)
    types = with_types(tokenizer)
    rows = pair_rows(tokenizer, firsts, seconds, max_length, types)[0] if firsts else Rows.empty(types)
    rows.row = {"owner": np.asarray(owner, dtype=np.int64)}
    rows.stats = {"examples": len(examples), "features": len(examples),
                  "full_length_sequences": int((rows.lengths >= max_length).sum())}
    return rows


def flatten(features: Sequence[dict]) -> tuple[list[dict], list[int]]:
    """Every choice as its own sequence (the engine batches them by length), and the item each belongs to."""
    flat, owner = [], []
    for f in features:
        for c in f["choices"]:
            flat.append(c)
            owner.append(f["example_index"])
    return flat, owner


def decode(scores: Sequence[float], owner: Sequence[int], n_items: int) -> list[int]:
    """The index of each item's best choice; the first one on ties."""
    per: list[list[float]] = [[] for _ in range(n_items)]
    for i, s in zip(owner, scores):
        per[i].append(float(s))
    return [int(np.argmax(p)) for p in per]


class MultipleChoice(Family):
    name = "multiple_choice"
    head = "ForMultipleChoice"
    auto_class = "AutoModelForMultipleChoice"
    formats = ("xcopa_jsonl",)
    submissions = ("label_jsonl",)
    defaults = {"max_length": 128}

    def read(self, spec, paths, lang, limit):
        examples = read_xcopa(paths["data"], None, lang)
        gold = paths.get("gold")
        if present(gold) and all(ex.label is None for ex in examples):
            labels = read_label_jsonl(str(gold), "labels file")
            if len(labels) != len(examples):
                raise UserError(f"{len(labels)} labels for {len(examples)} items in {paths['data']}", gold,
                                min(len(labels), len(examples)) + 1)
            for ex, label in zip(examples, labels):
                ex.label = label
        return examples[:limit] if limit is not None else examples

    def gold(self, spec, examples):
        return [ex.label for ex in examples] if examples and all(ex.label is not None for ex in examples) else None

    source_roles = (frozenset({"choices", "label"}), frozenset({"id", "context", "question", "choice_labels"}))
    intermediate_features = ("num_choices",)

    def from_record(self, spec, record, ex_id):
        from ..formats.records import choice_index, flat_list

        choices = [str(c) for c in flat_list(record.col("choices"))]
        if spec.features.get("num_choices") and len(choices) != spec.features["num_choices"]:
            return None
        label = choice_index(record.col("label"), record.col("choice_labels"), len(choices), record.source)
        if label is None:
            return None
        return ChoiceExample(id=ex_id, context=str(record.col("context", "") or ""),
                             question=str(record.col("question", "") or ""), choices=choices, label=label)

    def rows(self, examples, head, settings, ahead=False):
        m = settings["max_length"]
        return cached_rows(head, "multiple_choice", {"max_length": m},
                           lambda: featurize_rows(examples, head.tokenizer, max_length=m), ahead)

    def scores(self, examples, head, settings, desc: str = ""):
        """One score per choice of every item (flat, in item order) and the item of each."""
        rows = self.rows(examples, head, settings)

        def forward(call, batch):  # every choice sequence as an item with one choice: [n, 1, len]
            return {"logits": call({k: v[:, None] for k, v in batch.items()})["logits"][:, 0]}

        outs = head.run(rows, forward, desc=desc, token_keys=[])
        scores = outs["logits"].reshape(len(rows), -1)[:, 0].tolist() if len(rows) else []
        return scores, rows.row["owner"].tolist(), dict(rows.stats)

    def predict(self, spec, examples, settings, model, lang=""):
        scores, owner, stats = self.scores(examples, model, settings, f"{spec.task}/{lang}")
        return Predictions(spec.task, lang, examples, decode(scores, owner, len(examples)), stats)

    def train_features(self, spec, examples, tokenizer, settings, labels=None):
        return featurize(examples, tokenizer, max_length=settings["max_length"])

    def collate(self, features, pad_id):
        import torch

        flat = [c for f in features for c in f["choices"]]
        width = max(len(c["input_ids"]) for c in flat)
        n, c = len(features), len(features[0]["choices"])
        batch = {"input_ids": pad_rows([x["input_ids"] for x in flat], pad_id, width).view(n, c, width),
                 "attention_mask": pad_rows([[1] * len(x["input_ids"]) for x in flat], 0, width).view(n, c, width)}
        if "token_type_ids" in flat[0]:
            batch["token_type_ids"] = pad_rows([x["token_type_ids"] for x in flat], 0, width).view(n, c, width)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def training_head(self, hidden, num_labels, dropout):
        """One score per (context, choice) sequence, as ``*ForMultipleChoice``."""
        from torch import nn

        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1))

    def encoder_inputs(self, inputs):
        """Items of several choices ([n, choices, len]) go through the encoder as one sequence per choice."""
        ids = inputs["input_ids"]
        if ids.dim() != 3:
            return inputs, tuple(ids.shape)
        width = ids.shape[-1]
        return {k: (v.reshape(-1, width) if v is not None else None) for k, v in inputs.items()}, tuple(ids.shape)

    def head_outputs(self, head, hidden, input_shape, targets):
        from torch.nn import functional as F

        scores = head(hidden[:, 0]).squeeze(-1)
        if len(input_shape) != 3:
            return {"logits": scores}
        scores = scores.view(input_shape[0], input_shape[1])
        out = {"logits": scores}
        if targets.get("labels") is not None:
            out["loss"] = F.cross_entropy(scores.float(), targets["labels"])
        return out

    def write_output(self, spec, path, output):
        from ..io.files import atomic_write_text

        atomic_write_text(path, "".join(json.dumps({"label": int(p)}) + "\n" for p in output))

    def write_gold(self, spec, path, gold, examples):
        self.write_output(spec, path, gold)

    def read_pair(self, spec, pred_path, label_path):
        labels = lines.not_empty(read_label_jsonl(label_path, "labels file"), label_path,
                                 'one {"label": <int>} per line')
        preds = read_label_jsonl(pred_path, "prediction file")
        lines.same_length(pred_path, label_path, len(preds), len(labels), "lines")
        return labels, preds

    def read_output(self, spec, path):
        return len(read_label_jsonl(path, "prediction file"))
