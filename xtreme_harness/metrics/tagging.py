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

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np


def _check(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
    if len(labels) != len(predictions):
        raise ValueError(f"{len(predictions)} predicted sentences for {len(labels)} gold sentences")


def _check_lengths(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
    """seqeval's ``check_consistent_length``, with its messages: no sentence at all, or sentences of different
    lengths."""
    if not labels and not predictions:
        raise TypeError("Found input variables without list of list.")
    if any(len(g) != len(p) for g, p in zip(labels, predictions)):
        raise ValueError("Found input variables with inconsistent numbers of samples:\n{}\n{}".format(
            list(map(len, labels)), list(map(len, predictions))))


def _prf_divide(numerator, denominator):
    """seqeval's ``_prf_divide`` with ``zero_division='warn'`` (0 where the denominator is 0, no warning)."""
    mask = denominator == 0.0
    denominator = denominator.copy()
    denominator[mask] = 1
    result = numerator / denominator
    result[mask] = 0.0
    return result


def seqeval_f1(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
               language: str | None = None) -> dict[str, float]:
    """Micro chunk F1/precision/recall exactly as seqeval 1.x's ``f1_score``, ``precision_score`` and
    ``recall_score`` give them on IOB2 NER tags (chunks found with arrays, :func:`chunk_table`; the figures
    computed with seqeval's own arithmetic)."""
    import numpy as np

    _check(labels, predictions)
    _check_lengths(labels, predictions)
    table = ChunkTable(labels, predictions, legacy=False)
    gold, pred = table.corpus(table.gold), table.corpus(table.pred)
    # seqeval's micro average: one class of the pooled counts, then its _prf_divide and F-beta with beta 1
    tp_sum = np.array([len(np.intersect1d(gold, pred, assume_unique=True))])
    pred_sum, true_sum = np.array([len(pred)]), np.array([len(gold)])
    precision, recall = _prf_divide(tp_sum, pred_sum), _prf_divide(tp_sum, true_sum)
    denom = 1 * precision + recall
    denom[denom == 0.] = 1  # avoid division by 0
    f_score = (1 + 1) * precision * recall / denom
    f1, prec, rec = np.average(f_score), np.average(precision), np.average(recall)
    return {"f1": float(f1) * 100, "precision": float(prec) * 100, "recall": float(rec) * 100}


def seqeval_f1_reference(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                         language: str | None = None) -> dict[str, float]:
    """:func:`seqeval_f1` from seqeval itself (the tests hold the two equal)."""
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


# --- chunks with arrays ------------------------------------------------------------------

_INIT = None  # the state before a sequence's first tag: tag 'O', type ''
_LAST: list = []  # the last (labels, predictions, encoding): a language's metrics and records share one


def _snapshot(sentences) -> list:
    """A copy of the sentences' content, as lists: what a cached encoding was made of (a caller may change a
    list in place between two calls, so identity alone would not do; lists of lists compare fast)."""
    return list(map(list, sentences))


def _encode(sentences, codes: dict) -> tuple:
    """(codes of every tag with an 'O' after each sentence, first position of each sentence, lengths)."""
    import numpy as np

    tags = [t for s in sentences for t in (*s, "O")]
    for t in dict.fromkeys(tags):
        if t not in codes:
            codes[t] = len(codes)
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    flat = np.fromiter(map(codes.__getitem__, tags), dtype=np.int64, count=len(tags))
    first = np.zeros(len(sentences), dtype=np.int64)
    if len(sentences) > 1:
        np.cumsum(lengths[:-1] + 1, out=first[1:])
    return flat, first, lengths


def _encoded(labels, predictions) -> tuple:
    """(tag codes, gold side, predicted side), the two sides coded alike; reused while the same sentences
    come back (the official metric, the secondary one and the records of one language)."""
    if _LAST and _LAST[0] == labels and _LAST[1] == predictions:
        return _LAST[2]
    codes: dict = {_INIT: 0, "O": 1}
    found = (codes, _encode(labels, codes), _encode(predictions, codes))
    _LAST[:] = [_snapshot(labels), _snapshot(predictions), found]
    return found


def _correct_tokens(labels, predictions):
    """Per sentence, the positions where both sides have the same tag; None unless every sentence has as many
    predicted tags as gold ones."""
    import numpy as np

    _, gold, pred = _encoded(labels, predictions)
    if len(gold[2]) != len(pred[2]) or not bool((gold[2] == pred[2]).all()):
        return None
    equal = gold[0] == pred[0]  # the 'O' after each sentence is equal on both sides: one less
    if not len(equal):
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(equal.astype(np.int64), gold[1]) - 1


def _parse(tag: str | None, legacy: bool) -> tuple[str, str]:
    """(chunk prefix, chunk type) of a tag: seqeval 1.x reads ``chunk[0]`` and what follows the first '-'
    ('_' if nothing), seqeval 0.0.12 ``chunk[0]`` and what follows the last '-'."""
    if tag is _INIT:
        return "O", ""
    if legacy:
        return (tag[0] if tag else ""), tag.split("-")[-1]
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


class ChunkTable:
    """Both sides' tags as integer codes, with seqeval's chunk transitions as tables over the codes.

    ``end[p, c]`` / ``start[p, c]``: does a chunk end / start between a tag coded ``p`` and the next coded ``c``
    (``end_of_chunk`` and ``start_of_chunk``, the same in seqeval 1.x and 0.0.12, applied to each version's
    reading of the tags; code 0 is the state before a sequence). Every chunk of a sequence is then found at
    once: it ends where ``end`` holds and begins at the last ``start`` before that."""

    def __init__(self, labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]], legacy: bool):
        import numpy as np

        self.legacy = legacy
        codes, self.gold, self.pred = _encoded(labels, predictions)
        parsed = [_parse(t, legacy) for t in codes]
        n = len(parsed)
        self.end = np.zeros((n, n), dtype=bool)
        self.start = np.zeros((n, n), dtype=bool)
        for p, (pt, ptype) in enumerate(parsed):
            for c, (ct, ctype) in enumerate(parsed):
                self.end[p, c] = _end_of_chunk(pt, ct, ptype, ctype)
                self.start[p, c] = _start_of_chunk(pt, ct, ptype, ctype)
        types: dict[str, int] = {}
        self.type_of = np.asarray([types.setdefault(t, len(types)) for _, t in parsed], dtype=np.int64)
        self.n_types = max(len(types), 1)


    def _chunks(self, seq, prev, segment_start):
        """(type, begin, end) of every chunk of ``seq`` (codes) given each position's previous code."""
        import numpy as np

        ends = self.end[prev, seq]
        starts = self.start[prev, seq]
        pos = np.arange(len(seq))
        last_start = np.maximum.accumulate(np.where(starts, pos, -1))
        at = np.flatnonzero(ends)  # a chunk ends at at - 1
        begin = np.maximum(last_start[at - 1], segment_start[at - 1]) if len(at) else at
        if len(at):
            begin = np.where(last_start[at - 1] < 0, segment_start[at - 1], begin)
        return self.type_of[prev[at]], begin, at - 1

    def corpus(self, side) -> "np.ndarray":
        """The chunks of all sentences flattened with an 'O' after each (``get_entities`` of a list of
        sentences), as integer keys of (type, begin, end)."""
        import numpy as np

        flat, _, _ = side
        seq = np.append(flat, 1)  # get_entities' closing 'O'
        prev = np.concatenate([[0], seq[:-1]])
        types, begin, end = self._chunks(seq, prev, np.zeros(len(seq), dtype=np.int64))
        base = len(self.gold[0]) + len(self.pred[0]) + 2  # the same on both sides: keys compare across them
        return (begin * base + end) * self.n_types + types

    def per_sentence(self, side, width: int) -> tuple["np.ndarray", "np.ndarray"]:
        """Each sentence's chunks as ``get_entities`` finds them in the sentence alone: (sentence of each
        chunk, integer keys of (sentence, type, begin, end)); ``width`` exceeds every sentence's length."""
        import numpy as np

        flat, first, lengths = side
        if not len(flat):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        prev = np.concatenate([[0], flat[:-1]])
        prev[first] = 0  # each sentence starts afresh
        segment = np.repeat(first, lengths + 1)
        types, begin, end = self._chunks(flat, prev, segment)
        sentence = np.searchsorted(first, end, side="right") - 1
        local_b, local_e = begin - first[sentence], end - first[sentence]
        return sentence, ((sentence * width + local_b) * width + local_e) * self.n_types + types

    def sentence_counts(self) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
        """Per sentence: chunks both predicted and gold, predicted chunks, gold chunks."""
        import numpy as np

        n = len(self.gold[1])
        width = int(max(self.gold[2].max(initial=0), self.pred[2].max(initial=0))) + 2
        g_sent, g_keys = self.per_sentence(self.gold, width)
        p_sent, p_keys = self.per_sentence(self.pred, width)
        both = np.intersect1d(g_keys, p_keys, assume_unique=True)
        tp_sent = both // self.n_types // width // width
        return (np.bincount(tp_sent, minlength=n), np.bincount(p_sent, minlength=n), np.bincount(g_sent, minlength=n))


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


def _legacy_prf(nb_correct: int, nb_pred: int, nb_true: int) -> dict[str, float]:
    """seqeval 0.0.12's precision, recall and F1 from chunk counts, with its own arithmetic and zero cases."""
    p = nb_correct / nb_pred if nb_pred > 0 else 0
    r = nb_correct / nb_true if nb_true > 0 else 0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0
    return {"f1": f1 * 100, "precision": p * 100, "recall": r * 100}


def pos_chunk_f1(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                 language: str | None = None) -> dict[str, float]:
    """UD-POS F1/precision/recall exactly as the official scorer (seqeval 0.0.12) gives them."""
    import numpy as np

    _check(labels, predictions)
    table = ChunkTable(labels, predictions, legacy=True)
    true_entities, pred_entities = table.corpus(table.gold), table.corpus(table.pred)
    nb_correct = len(np.intersect1d(true_entities, pred_entities, assume_unique=True))
    return _legacy_prf(nb_correct, len(pred_entities), len(true_entities))


def pos_chunk_f1_reference(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                           language: str | None = None) -> dict[str, float]:
    """:func:`pos_chunk_f1` from :func:`legacy_entities` (the tests hold the two equal)."""
    _check(labels, predictions)
    true_entities = set(legacy_entities(labels))
    pred_entities = set(legacy_entities(predictions))
    nb_correct = len(true_entities & pred_entities)
    return _legacy_prf(nb_correct, len(pred_entities), len(true_entities))


def token_accuracy(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                   language: str | None = None) -> dict[str, float]:
    """Percent of tokens whose tag is right; a missing or extra token counts as wrong."""
    _check(labels, predictions)
    per_sentence = _correct_tokens(labels, predictions) if labels else None
    if per_sentence is not None:
        total = sum(map(len, labels))
        correct = int(per_sentence.sum())
        return {"token_accuracy": correct / total * 100 if total else 0.0}
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


def chunk_records(official: str, golds: Sequence[Sequence[str]], preds: Sequence[Sequence[str]]) -> list[dict]:
    """``{"tp", "n_pred", "n_gold"}`` of every sentence: :func:`chunk_counts` of each, with arrays."""
    table = ChunkTable(golds, preds, legacy=official == "pos_chunk_f1")
    tp, n_pred, n_gold = (x.tolist() for x in table.sentence_counts())
    return [{"tp": a, "n_pred": b, "n_gold": c} for a, b, c in zip(tp, n_pred, n_gold)]


def correct_token_records(golds: Sequence[Sequence[str]], preds: Sequence[Sequence[str]]) -> list[dict]:
    """``{"correct_tokens"}`` of every sentence: the tags equal to the gold, position by position."""
    per_sentence = _correct_tokens(golds, preds) if golds and len(golds) == len(preds) else None
    if per_sentence is not None:
        return [{"correct_tokens": c} for c in per_sentence.tolist()]
    return [{"correct_tokens": sum(a == b for a, b in zip(g, p))} for g, p in zip(golds, preds)]
