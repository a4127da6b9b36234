"""Metrics: each one registered object owning its official figure, its per-example record and its aggregation.

A :class:`Metric` bundles what every consumer of a metric needs (as
lm-eval's ``register_metric`` bundles a metric with its aggregation): ``fn``
computes the official figures of one language, exactly as google-research/xtreme
``evaluate.py`` does, from lists in and a dict of percentages out;
``record`` gives one example's fields for the per-example records; and
``from_sums`` turns summed record fields back into the headline figure, which
is what a paired bootstrap resamples. Records, the bootstrap, the lm-eval hooks
and the scorer all read this registry. Secondary metrics are the saner figures
reported beside the official ones, never instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .classification import accuracy, macro_f1
from .qa import (
    mlqa_em_f1,
    mlqa_example,
    squad_em_f1,
    squad_example,
    squad_v2_em_f1,
    squad_v2_example,
)
from .retrieval import average_precision, bucc_f1, lareqa_map20, mewslix_map20
from .tagging import chunk_counts, chunk_records, correct_token_records, pos_chunk_f1, seqeval_f1, token_accuracy

# What a record field may hold (checked wherever records are read back).
FLAG, FRACTION, COUNT = "0 or 1", "a fraction from 0 to 1", "a count, an integer of 0 or more"


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., dict[str, float]]  # (labels, predictions, language) -> {figure: percent}
    keys: tuple[str, ...]  # the figures ``fn`` returns
    headline: str  # the one figure a trainer selects checkpoints on
    record: Callable[[Any, Any, str], dict[str, Any]] | None = None  # (gold, prediction, language) of one example
    fields: Mapping[str, str] = field(default_factory=dict)  # record field -> what it may hold
    from_sums: Callable[[Mapping[str, Any], Any], Any] | None = None  # summed record fields, n -> percent
    # (golds, predictions, language) -> one ``record`` per example, computed for all at once
    records: Callable[[Sequence[Any], Sequence[Any], str], list[dict[str, Any]]] | None = None

    def all_records(self, golds: Sequence[Any], preds: Sequence[Any], lang: str) -> list[dict[str, Any]]:
        """``record`` of every example (in one go where the metric can)."""
        if self.records is not None:
            return self.records(golds, preds, lang)
        return [self.record(g, p, lang) for g, p in zip(golds, preds)]


def _correct(gold, pred, lang) -> dict[str, int]:
    return {"correct": int(pred == gold)}


def _mean_of(key: str):
    return lambda sums, n: 100.0 * sums[key] / n


def _qa_record(one):
    def record(golds, pred, lang):
        em, f1 = one(pred, golds, lang)
        return {"em": int(em), "f1": float(f1)}
    return record


def _qa_from_sums(sums, n):
    """(EM+F1)/2, the quantity ``avg_metric`` averages for QA."""
    return 100.0 * (sums["em"] + sums["f1"]) / (2.0 * n)


def _chunk_record(official: str):
    def record(gold, pred, lang):
        tp, n_pred, n_gold = chunk_counts(official, gold, pred)
        return {"tp": tp, "n_pred": n_pred, "n_gold": n_gold}
    return record


def _chunk_from_sums(sums, n):
    """Corpus chunk F1, 2*tp/(n_pred+n_gold), as seqeval computes it from the pooled counts."""
    import numpy as np

    denom = sums["n_pred"] + sums["n_gold"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 200.0 * sums["tp"] / np.where(denom > 0, denom, 1), 0.0)


def _ap_record(first_only: bool):
    def record(relevant, ranked, lang):
        return {"ap": average_precision(relevant, ranked, 20, first_only=first_only)}
    return record


_CHUNK_FIELDS = {"tp": COUNT, "n_pred": COUNT, "n_gold": COUNT}

METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    METRICS[metric.name] = metric
    return metric


for _m in (
    Metric("accuracy", accuracy, ("accuracy",), "accuracy", _correct, {"correct": FLAG}, _mean_of("correct"),
           lambda golds, preds, lang: [{"correct": int(p == g)} for g, p in zip(golds, preds)]),
    Metric("macro_f1", macro_f1, ("macro_f1",), "macro_f1"),
    Metric("seqeval", seqeval_f1, ("f1", "precision", "recall"), "f1", _chunk_record("seqeval"), _CHUNK_FIELDS,
           _chunk_from_sums, lambda golds, preds, lang: chunk_records("seqeval", golds, preds)),
    Metric("pos_chunk_f1", pos_chunk_f1, ("f1", "precision", "recall"), "f1", _chunk_record("pos_chunk_f1"),
           _CHUNK_FIELDS, _chunk_from_sums, lambda golds, preds, lang: chunk_records("pos_chunk_f1", golds, preds)),
    Metric("token_accuracy", token_accuracy, ("token_accuracy",), "token_accuracy",
           lambda gold, pred, lang: {"correct_tokens": sum(int(a == b) for a, b in zip(gold, pred))},
           {"correct_tokens": COUNT}, records=lambda golds, preds, lang: correct_token_records(golds, preds)),
    Metric("squad", squad_em_f1, ("exact_match", "f1"), "f1", _qa_record(lambda p, g, lang: squad_example(p, g)),
           {"em": FLAG, "f1": FRACTION}, _qa_from_sums),
    Metric("squad_v2", squad_v2_em_f1, ("exact_match", "f1"), "f1",
           _qa_record(lambda p, g, lang: squad_v2_example(p, g)), {"em": FLAG, "f1": FRACTION}, _qa_from_sums),
    Metric("mlqa", mlqa_em_f1, ("exact_match", "f1"), "f1", _qa_record(mlqa_example), {"em": FLAG, "f1": FRACTION},
           _qa_from_sums),
    Metric("bucc_f1", bucc_f1, ("f1", "precision", "recall"), "f1"),
    Metric("lareqa_map20", lareqa_map20, ("map@20",), "map@20", _ap_record(False), {"ap": FRACTION}, _mean_of("ap")),
    Metric("mewslix_map20", mewslix_map20, ("map@20",), "map@20", _ap_record(True), {"ap": FRACTION},
           _mean_of("ap")),
):
    register(_m)


def record_fields() -> dict[str, str]:
    """Every per-example record field any metric writes, with what it may hold."""
    out: dict[str, str] = {}
    for m in METRICS.values():
        out.update(m.fields)
    return out


__all__ = ["COUNT", "FLAG", "FRACTION", "METRICS", "Metric", "accuracy", "bucc_f1", "lareqa_map20", "macro_f1",
           "mewslix_map20", "mlqa_em_f1", "pos_chunk_f1", "record_fields", "register", "seqeval_f1", "squad_em_f1",
           "squad_v2_em_f1", "token_accuracy"]
