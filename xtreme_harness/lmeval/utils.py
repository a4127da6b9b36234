"""The hooks the generated lm-eval task YAMLs call through ``!function``: filters, per-doc scoring, aggregations.

Every figure comes from our official metric functions, so a prompted model's
XQuAD F1, PAN-X F1 or XNLI accuracy reported by lm-eval is the figure XTREME's
``evaluate.py`` gives; lm-eval only averages per-doc items where the official
metric is itself a mean of them. YAMLs name these hooks by their full module
path; lm-eval imports them as ordinary modules.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from lm_eval.api.filter import Filter

from ..io.errors import UserError
from . import DATA_ENV, SPLIT_ENV
from .answers import answer_text, parse_tags, predicted_index

FALLBACK_DATA_ENV = "XTREME_DATA_DIR"


def data_location(xtreme_data_dir: str | None = None, xtreme_split: str | None = None) -> tuple[str, str]:
    """The data folder and split: task metadata first, then the environment."""
    data_dir = xtreme_data_dir or os.environ.get(DATA_ENV) or os.environ.get(FALLBACK_DATA_ENV)
    if not data_dir:
        raise UserError(f"the xtreme_* lm-eval tasks read XTREME's download folder: set {DATA_ENV}=DIR "
                        "(or pass --metadata '{\"xtreme_data_dir\": \"DIR\"}' to lm_eval)")
    split = xtreme_split or os.environ.get(SPLIT_ENV) or "test"
    if split not in ("test", "dev"):
        raise UserError(f"{SPLIT_ENV} / xtreme_split must be test or dev, not '{split}'")
    return str(data_dir), split


def percent(items: Sequence[float]) -> float:
    """The mean of 0/1 items as a percentage, in ``metrics.accuracy``'s arithmetic (count, divide, scale)."""
    if not items:
        return 0.0
    return float(sum(items)) / len(items) * 100


# --- classification -----------------------------------------------------------------------


def process_classification(doc: dict, results: Sequence) -> dict[str, Any]:
    """Correctness, lm-eval's acc_norm (log-likelihood per character of the choice), and (gold, pred) for macro-F1."""
    labels = doc["labels"]
    pred = labels[predicted_index(results)]
    lls = [float(r[0]) for r in results]
    normed = [ll / max(len(c), 1) for ll, c in zip(lls, doc["choices"])]
    return {"accuracy": int(pred == doc["label"]),
            "acc_norm": int(labels[predicted_index(normed)] == doc["label"]),
            "macro_f1": (doc["label"], pred)}


def macro_f1_percent(items: Sequence[tuple[str, str]]) -> float:
    from ..metrics import macro_f1

    return macro_f1([g for g, _ in items], [p for _, p in items])["macro_f1"]


# --- QA -----------------------------------------------------------------------------------


class AnswerFilter(Filter):
    """Keeps the scored answer of each generation, so logged samples show what was scored."""

    def apply(self, resps, docs):
        return [[answer_text(r) for r in rs] for rs in resps]


def process_squad(doc: dict, results: Sequence) -> dict[str, Any]:
    """SQuAD v1.1 EM/F1 with the English normaliser in every language, as XTREME scores XQuAD and TyDiQA."""
    from ..metrics.qa import squad_example

    em, f1 = squad_example(results[0], doc["answers"])
    return {"exact_match": em, "f1": f1}


def process_mlqa(doc: dict, results: Sequence) -> dict[str, Any]:
    """MLQA EM/F1 with the answer language's normaliser."""
    from ..metrics.qa import mlqa_example

    em, f1 = mlqa_example(results[0], doc["answers"], doc["lang"])
    return {"exact_match": em, "f1": f1}


def qa_percent(items: Sequence[float]) -> float:
    """Same arithmetic as ``metrics.qa``'s corpus figures: a running sum from 0, then ``100.0 * sum / n``."""
    if not items:
        return 0.0
    total = 0
    for value in items:
        total += value
    return 100.0 * total / len(items)


def qa_target(doc: dict) -> str:
    return doc["answers"][0] if doc["answers"] else ""


# --- tagging ------------------------------------------------------------------------------


class TagFilter(Filter):
    """Parses each generation into exactly one tag per word of its doc (see :func:`parse_tags`)."""

    def apply(self, resps, docs):
        return [[parse_tags(r, len(doc["tokens"]), doc["tag_set"]) for r in rs] for rs, doc in zip(resps, docs)]


def process_tagging(doc: dict, results: Sequence) -> dict[str, Any]:
    tags = results[0]
    return {"f1": (doc["tags"], list(tags)), "token_accuracy": (doc["tags"], list(tags)),
            "length_mismatch": int(tags.parsed != len(doc["tokens"])), "invalid_tags": int(tags.invalid > 0)}


def _tag_metric(name: str, key: str, items: Sequence[tuple[list, list]]) -> float:
    from ..metrics import METRICS

    return METRICS[name].fn([g for g, _ in items], [p for _, p in items])[key]


def pos_chunk_f1(items: Sequence[tuple[list, list]]) -> float:
    """UD-POS F1 as XTREME computes it (seqeval 0.0.12 read POS tags as chunks)."""
    return _tag_metric("pos_chunk_f1", "f1", items)


def seqeval_f1(items: Sequence[tuple[list, list]]) -> float:
    """PAN-X entity F1 (seqeval)."""
    return _tag_metric("seqeval", "f1", items)


def token_accuracy(items: Sequence[tuple[list, list]]) -> float:
    return _tag_metric("token_accuracy", "token_accuracy", items)


def tag_target(doc: dict) -> str:
    """The answer a few-shot example shows: word/TAG pairs."""
    return " ".join(f"{w}/{t}" for w, t in zip(doc["tokens"], doc["tags"]))
