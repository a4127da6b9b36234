"""BUCC mining F1 over sets of (xx-id, en-id) pairs, as ``evaluate.py`` computes it."""

from __future__ import annotations

from typing import Iterable


def _pairs(items: Iterable) -> set[tuple[str, ...]]:
    out = set()
    for item in items:
        out.add(tuple(item.split("\t")) if isinstance(item, str) else tuple(item))
    return out


def bucc_f1(labels: Iterable, predictions: Iterable, language: str | None = None) -> dict[str, float]:
    """Set precision/recall/F1; duplicate pairs count once on either side."""
    gold, pred = _pairs(labels), _pairs(predictions)
    ncorrect = len(gold & pred)
    if ncorrect > 0:
        prec = ncorrect / len(pred)
        rec = ncorrect / len(gold)
        f1 = 2 * prec * rec / (prec + rec)
    else:
        prec = rec = f1 = 0
    return {"f1": f1 * 100, "precision": prec * 100, "recall": rec * 100}
