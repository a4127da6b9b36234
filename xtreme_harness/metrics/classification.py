"""Accuracy (official for XNLI, PAWS-X and Tatoeba) and macro-F1 (secondary)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence


def accuracy(labels: Sequence, predictions: Sequence, language: str | None = None) -> dict[str, float]:
    """Percent of predictions equal to their label; same arithmetic as ``evaluate.py``."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not predictions:
        return {"accuracy": 0.0}
    correct = sum(int(p == l) for p, l in zip(predictions, labels))
    return {"accuracy": float(correct) / len(predictions) * 100}


def macro_f1(labels: Sequence, predictions: Sequence, language: str | None = None) -> dict[str, float]:
    """Unweighted mean of per-class F1 over the classes seen in the labels."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    classes = sorted(set(labels))
    if not classes:
        return {"macro_f1": 0.0}
    tp, n_pred, n_gold = Counter(), Counter(predictions), Counter(labels)
    for p, l in zip(predictions, labels):
        if p == l:
            tp[l] += 1
    total = 0.0
    for c in classes:
        prec = tp[c] / n_pred[c] if n_pred[c] else 0.0
        rec = tp[c] / n_gold[c] if n_gold[c] else 0.0
        total += 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"macro_f1": total / len(classes) * 100}
