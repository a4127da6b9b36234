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


# --- ranked retrieval (XTREME-R) -------------------------------------------------------

def average_precision(relevant, ranked, k: int = 20, first_only: bool = False) -> float:
    """AP@k of one query, as ``third_party/utils_lareqa.py`` (``average_precision_at_k``) computes it.

    Hits in the top k add (hits so far / rank); the sum is divided by
    ``min(len(relevant), k)``. ``first_only``: Mewsli-X's reciprocal rank of
    the first gold id (``utils_mewslix.py`` reads ``labels[0].strip()``).
    """
    ranked = list(ranked)[:k]
    if first_only:
        gold = relevant[0].strip() if relevant else ""
        return next((1.0 / rank for rank, p in enumerate(ranked, 1) if p == gold), 0.0)
    targets = set(relevant)
    if not targets:  # AP divides by the number of relevant candidates
        raise ValueError("a query has no relevant candidates; expected at least one gold id per query")
    score = hits = 0.0
    for i, pred in enumerate(ranked):
        if pred in targets and pred not in ranked[:i]:
            hits += 1.0
            score += hits / (i + 1.0)
    return score / min(len(targets), k)


def lareqa_map20(labels: dict, predictions: dict, language: str | None = None) -> dict[str, float]:
    """mAP@20 over the queries of one language: ``np.mean`` of their AP@20, in percent.

    ``labels``: {query id: [relevant candidate ids]}; ``predictions``: {query
    id: [candidate ids, best first]}; a query without predictions scores 0.
    """
    import numpy as np

    aps = [average_precision(rel, predictions.get(q, []), 20) for q, rel in labels.items()]
    return {"map@20": float(np.mean(aps)) * 100 if aps else 0.0}


def mewslix_map20(labels: dict, predictions: dict, language: str | None = None) -> dict[str, float]:
    """Mewsli-X's "map@20" as ``evaluate.py`` computes it: the mean reciprocal rank at 20 of each gold id."""
    rrs = [average_precision(rel, predictions.get(q, []), 20, first_only=True) for q, rel in labels.items()]
    mrr = sum(rrs) / len(rrs) if rrs else 0.0
    return {"map@20": mrr * 100}
