"""SQuAD v1.1 and MLQA exact match and F1.

XTREME scores XQuAD and TyDiQA-GoldP with the English SQuAD v1.1 normaliser in
every language (so Arabic or Chinese answers are compared as whitespace
tokens with ASCII punctuation removed); MLQA uses its own normaliser with
per-language articles, all Unicode punctuation, and a character split for
Chinese. Both are reproduced here as the official scripts define them.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Callable, Sequence

# --- SQuAD v1.1 ---------------------------------------------------------------

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def squad_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _ASCII_PUNCT)
    s = _EN_ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_example(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1) of one prediction, as fractions, max over the gold answers."""
    p = squad_normalize(prediction)
    em = max(p == squad_normalize(g) for g in golds)
    f1 = max(_token_f1(p.split(), squad_normalize(g).split()) for g in golds)
    return em, f1


# --- MLQA ---------------------------------------------------------------------

WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MIXED_SEGMENTATION_LANGS = ("zh",)
_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # As in the official script: removes every "ال", not only the article at a word start.
    "ar": re.compile(r"\sال^|ال"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def unicode_punct() -> frozenset[str]:
    """Every Unicode P* character (below sys.maxunicode, as the official script) plus ASCII punctuation."""
    return frozenset(chr(i) for i in range(sys.maxunicode)
                     if unicodedata.category(chr(i)).startswith("P")) | _ASCII_PUNCT


def _mixed_segmentation(text: str, punct: frozenset[str]) -> list[str]:
    out: list[str] = []
    buf = ""
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            if buf:
                out.extend(buf.split())
                buf = ""
            out.append(ch)
        else:
            buf += ch
    if buf:
        out.extend(buf.split())
    return out


def mlqa_normalize(s: str, lang: str) -> str:
    if lang not in WHITESPACE_LANGS and lang not in MIXED_SEGMENTATION_LANGS:
        raise ValueError(f"the MLQA normaliser has no rules for language '{lang}' "
                         f"(it knows {', '.join(WHITESPACE_LANGS + MIXED_SEGMENTATION_LANGS)})")
    punct = unicode_punct()
    s = s.lower()
    s = "".join(ch for ch in s if ch not in punct)
    if lang in _ARTICLES:
        s = _ARTICLES[lang].sub(" ", s)
    tokens = s.split() if lang in WHITESPACE_LANGS else _mixed_segmentation(s, punct)
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa_example(prediction: str, golds: Sequence[str], lang: str) -> tuple[float, float]:
    p = mlqa_normalize(prediction, lang)
    em = max(p == mlqa_normalize(g, lang) for g in golds)
    f1 = max(_token_f1(p.split(), mlqa_normalize(g, lang).split()) for g in golds)
    return em, f1


# --- corpus level ----------------------------------------------------------------

def _corpus(golds: Sequence[Sequence[str]], predictions: Sequence[str | None],
            one: Callable[[str, Sequence[str]], tuple[float, float]]) -> dict[str, float]:
    if len(golds) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    em = f1 = 0
    for pred, gold in zip(predictions, golds):
        if pred is None:  # unanswered: scores 0 and still counts
            continue
        e, f = one(pred, gold)
        em += e
        f1 += f
    total = len(golds)
    if total == 0:
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def squad_em_f1(labels: Sequence[Sequence[str]], predictions: Sequence[str | None],
                language: str | None = None) -> dict[str, float]:
    """SQuAD v1.1 EM/F1. ``labels[i]`` are the gold answer texts of question i; a None prediction is unanswered."""
    return _corpus(labels, predictions, squad_example)


def mlqa_em_f1(labels: Sequence[Sequence[str]], predictions: Sequence[str | None],
               language: str | None = None) -> dict[str, float]:
    """MLQA EM/F1 with the language's normaliser (``language`` is required)."""
    if language is None:
        raise ValueError("MLQA scoring needs the answer language")
    return _corpus(labels, predictions, lambda p, g: mlqa_example(p, g, language))


def squad_v2_example(prediction: str, golds: Sequence[str]) -> tuple[float, float]:
    if not golds:  # an unanswerable question is right only when left unanswered
        return float(prediction == ""), float(prediction == "")
    return squad_example(prediction, golds)


def squad_v2_em_f1(labels: Sequence[Sequence[str]], predictions: Sequence[str | None],
                   language: str | None = None) -> dict[str, float]:
    """SQuAD v2.0 EM/F1: as v1.1, and a question without gold answers counts only an empty answer as right."""
    return _corpus(labels, predictions, squad_v2_example)
