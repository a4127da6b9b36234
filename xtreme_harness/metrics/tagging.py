"""Tagging metrics: seqeval chunk F1 (PAN-X), the seqeval-0.0.12 POS quirk, token accuracy.

XTREME's scorer calls ``seqeval.metrics.f1_score`` on UD-POS tags such as
``NOUN`` or ``SCONJ``. seqeval 0.0.12 (the version the official figures come
from) reads the first character of any tag as its chunk prefix and the text
after the last ``-`` as its type, so ``SCONJ`` is an S(ingle) chunk and a run
of ``NOUN NOUN`` is one chunk. seqeval 1.x parses those tags differently and
gives other POS figures. :func:`pos_chunk_f1` reimplements 0.0.12's chunking
so the official figure is reproduced without pinning that old release;
:func:`token_accuracy` is the figure a reader would expect, reported beside it.
"""

from __future__ import annotations

from typing import Sequence


def _check(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(labels)} gold sentences")


def seqeval_f1(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
               language: str | None = None) -> dict[str, float]:
    """Micro chunk F1/precision/recall from seqeval itself (IOB2 NER tags)."""
    import warnings

    from seqeval.metrics import f1_score, precision_score, recall_score

    _check(labels, predictions)
    y_true = [list(s) for s in labels]
    y_pred = [list(s) for s in predictions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on all-O or empty input
        f1 = f1_score(y_true, y_pred)
        prec = precision_score(y_true, y_pred)
        rec = recall_score(y_true, y_pred)
    return {"f1": float(f1) * 100, "precision": float(prec) * 100, "recall": float(rec) * 100}


# --- seqeval 0.0.12 chunk semantics -------------------------------------------

def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_tag != "." and prev_type != type_


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and tag != "." and prev_type != type_


def legacy_entities(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """Chunks as seqeval 0.0.12 ``get_entities`` finds them in a list of sentences.

    Sentences are flattened with an ``O`` after each one, and offsets are
    positions in that flat sequence (so each side is flattened on its own, as
    the old code did).
    """
    seq = [tag for sent in sentences for tag in list(sent) + ["O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, chunk in enumerate(seq + ["O"]):
        tag = chunk[0] if chunk else ""
        type_ = chunk.split("-")[-1]
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def pos_chunk_f1(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                 language: str | None = None) -> dict[str, float]:
    """UD-POS F1/precision/recall exactly as the official scorer (seqeval 0.0.12) gives them."""
    _check(labels, predictions)
    true_entities = set(legacy_entities(labels))
    pred_entities = set(legacy_entities(predictions))
    nb_correct = len(true_entities & pred_entities)
    nb_pred, nb_true = len(pred_entities), len(true_entities)
    p = nb_correct / nb_pred if nb_pred > 0 else 0
    r = nb_correct / nb_true if nb_true > 0 else 0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0
    return {"f1": f1 * 100, "precision": p * 100, "recall": r * 100}


def token_accuracy(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                   language: str | None = None) -> dict[str, float]:
    """Percent of tokens whose tag is right; a missing or extra token counts as wrong."""
    _check(labels, predictions)
    correct = total = 0
    for gold, pred in zip(labels, predictions):
        total += max(len(gold), len(pred))
        correct += sum(int(g == p) for g, p in zip(gold, pred))
    return {"token_accuracy": correct / total * 100 if total else 0.0}


def chunk_counts(official: str, gold: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int]:
    """(true positive, predicted, gold) chunks of one sentence under the official chunking of ``official``
    (``pos_chunk_f1``: seqeval 0.0.12's; otherwise seqeval's own), which a paired bootstrap pools back into F1."""
    if official == "pos_chunk_f1":
        g, p = set(legacy_entities([list(gold)])), set(legacy_entities([list(pred)]))
    else:
        from seqeval.metrics.sequence_labeling import get_entities

        g, p = set(get_entities(list(gold))), set(get_entities(list(pred)))
    return len(g & p), len(p), len(g)
