"""Sentence-pair classification (XNLI, PAWS-X).

As XTREME's ``run_classify.py``: the pair goes through the tokenizer's own pair
template (``[CLS] a [SEP] b [SEP]``, ``<s> a </s></s> b </s>``), cut to
``max_length`` with the ``longest_first`` strategy, and the prediction is the
argmax of the logits.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..data.examples import PairExample
from . import FeatureList, require_fast


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
    enc = tokenizer(a, b, truncation="longest_first", max_length=max_length)
    # A second, untruncated pass only where the result is full, to count truncation honestly.
    full_idx = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= max_length]
    truncated = set()
    if full_idx:
        lens = tokenizer([a[i] for i in full_idx], [b[i] for i in full_idx], truncation=False,
                         verbose=False)["input_ids"]
        truncated = {i for i, ids in zip(full_idx, lens) if len(ids) > max_length}
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
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


def count_truncated(features: Sequence[dict]) -> int:
    return sum(1 for f in features if f.get("truncated"))


def allowed_ids(id2label: Mapping[int, str], label_map: Mapping[str, str] | None) -> list[int]:
    """Model label ids that name a task label; the others must never be predicted."""
    ids = sorted(id2label)
    if label_map is None:
        return ids
    ok = [i for i in ids if id2label[i] in label_map]
    if not ok:
        raise ValueError("label_map names none of the model's labels "
                         f"({', '.join(id2label[i] for i in ids)})")
    return ok


def pick_labels(logits: np.ndarray, id2label: Mapping[int, str],
                label_map: Mapping[str, str] | None = None) -> list[str]:
    """Row-wise argmax restricted to mappable model labels, returned as task label names.

    Ties go to the lowest id (numpy's argmax), as ``np.argmax`` in XTREME.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape [n, num_labels], got {logits.shape}")
    ids = allowed_ids(id2label, label_map)
    if max(ids) >= logits.shape[1]:
        raise ValueError(f"id2label has id {max(ids)} but the logits have {logits.shape[1]} columns")
    best = np.asarray(ids)[np.argmax(logits[:, ids], axis=1)]
    names = [id2label[int(i)] for i in best]
    return [label_map[n] for n in names] if label_map is not None else names


def decode(logits: np.ndarray, id2label: Mapping[int, str],
           label_map: Mapping[str, str] | None = None) -> list[str]:
    """Argmax over ``[n, num_labels]`` logits, mapped from model label names to task label names."""
    return pick_labels(logits, id2label, label_map)
