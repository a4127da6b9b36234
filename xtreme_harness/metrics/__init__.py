"""Metrics as pure functions: lists in, a dict of percentages (0-100) out.

Each official metric reproduces what google-research/xtreme ``evaluate.py``
computes, bit for bit where the arithmetic allows; secondary metrics are the
saner figures reported beside them (never instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .classification import accuracy, macro_f1
from .qa import mlqa_em_f1, squad_em_f1, squad_v2_em_f1
from .retrieval import bucc_f1, lareqa_map20, mewslix_map20
from .tagging import pos_chunk_f1, seqeval_f1, token_accuracy


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable
    keys: tuple[str, ...]  # the figures it returns
    headline: str  # the one figure a trainer selects checkpoints on


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", accuracy, ("accuracy",), "accuracy"),
        Metric("macro_f1", macro_f1, ("macro_f1",), "macro_f1"),
        Metric("seqeval", seqeval_f1, ("f1", "precision", "recall"), "f1"),
        Metric("pos_chunk_f1", pos_chunk_f1, ("f1", "precision", "recall"), "f1"),
        Metric("token_accuracy", token_accuracy, ("token_accuracy",), "token_accuracy"),
        Metric("squad", squad_em_f1, ("exact_match", "f1"), "f1"),
        Metric("squad_v2", squad_v2_em_f1, ("exact_match", "f1"), "f1"),
        Metric("mlqa", mlqa_em_f1, ("exact_match", "f1"), "f1"),
        Metric("bucc_f1", bucc_f1, ("f1", "precision", "recall"), "f1"),
        Metric("lareqa_map20", lareqa_map20, ("map@20",), "map@20"),
        Metric("mewslix_map20", mewslix_map20, ("map@20",), "map@20"),
    )
}

__all__ = ["METRICS", "Metric", "accuracy", "macro_f1", "seqeval_f1", "pos_chunk_f1", "token_accuracy",
           "squad_em_f1", "squad_v2_em_f1", "mlqa_em_f1", "bucc_f1", "lareqa_map20", "mewslix_map20"]
