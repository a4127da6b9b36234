"""Extractive QA (XQuAD, MLQA, TyDiQA-GoldP) as XTREME's ``run_squad.py`` does it.

Followed from XTREME (``processors/squad.py`` and the ``compute_predictions_logits``
it calls): the question is cut to ``max_query_length`` sub-tokens and comes
first; only the context is cut; context windows start ``doc_stride`` sub-tokens
apart (``doc_stride`` is the step between windows, not their overlap, so the
tokenizer's overlap is ``budget - doc_stride``); a start token only counts in
the window where it has the most context; candidates are the ``n_best`` top
start and end logits over all ``max_length`` positions of a feature padded
to that length, padding included (``run_squad.py`` pads every feature, and
``compute_predictions_logits`` takes its top-n before it filters), pairs kept
when both are context tokens, end >= start and the span is at most
``max_answer_length`` tokens, ranked by the sum of logits; a question left
with no candidate is answered "empty", the placeholder that function writes;
training spans that fall outside a window point at CLS (index 0).

``nbest_over: real-tokens`` (``--qa-nbest real-tokens``) takes the top-n over
a feature's real tokens only and answers "" when no span qualifies: padding
can then never crowd out the candidates of a weak head.

A span's text is the one XTREME writes: its sub-tokens joined and projected
onto the whitespace words they touch (:mod:`.qa_text`, which explains why a
sentencepiece model's Chinese answers then become whole runs of text between
spaces). ``answer_text: offsets`` (``--qa-answer-text offsets``) slices the
context at the tokenizer's character offsets instead: always the exact span,
surrounding whitespace trimmed.
"""


from __future__ import annotations

import weakref
from typing import Any, Sequence

import numpy as np

from ..formats import lines, squad
from ..formats.examples import Answer, QAExample
from ..io.errors import UserError, clip
from ..io.jsonfile import json_path_line
from ..io.messages import show
from .base import MODEL_INPUTS, Family, FeatureList, Predictions, cached_rows, require_fast
from .tokens import IDS_DTYPE, PairTemplate, Rows, call, encode, pair_template, with_types

_METASPACE = "\u2581"
OFFICIAL_EMPTY = "empty"  # compute_predictions_logits' answer when no span qualifies


def _questions(tokenizer: Any, questions: list[str], max_query_length: int) -> tuple[list[str], list[int], int]:
    """Questions cut after their ``max_query_length``-th sub-token (XTREME's ``truncated_query``),
    their sub-token counts, and how many were cut."""
    enc = call(tokenizer, questions, add_special_tokens=False, return_offsets_mapping=True)
    out, lens, cut = list(questions), [len(ids) for ids in enc["input_ids"]], 0
    for i, ids in enumerate(enc["input_ids"]):
        if len(ids) <= max_query_length:
            continue
        cut += 1
        keep = max_query_length
        while True:  # re-tokenising the cut text can merge pieces differently; back off until it fits
            text = questions[i][:enc["offset_mapping"][i][keep - 1][1]] if keep > 0 else ""
            n = len(call(tokenizer, text, add_special_tokens=False)["input_ids"])
            if n <= max_query_length:
                out[i], lens[i] = text, n
                break
            keep -= 1
    return out, lens, cut


def _clean_offsets(context: str, offsets: list, tokens: list[str]) -> list:
    """Offsets that start at the token's first non-space character.

    Sentencepiece (XLM-R) offsets include the space behind a leading '▁', and
    a lone '▁' token is given the next character although it stands for none;
    such a token becomes an empty span so that it can never add a character.
    """
    out = []
    for off, tok in zip(offsets, tokens):
        if off is None:
            out.append(None)
            continue
        s, e = off
        if tok and not tok.strip(_METASPACE):
            s = e if not context[s:e].strip() else s
            out.append((s, s))
            continue
        while s < e and context[s].isspace():
            s += 1
        out.append((s, e))
    return out


def _max_context(starts: list[int], lengths: list[int]) -> list[list[bool]]:
    """Per window, per context token: is this the window where the token has the most context?"""
    best: dict[int, tuple[float, int]] = {}
    for k, (s, n) in enumerate(zip(starts, lengths)):
        for j in range(n):
            score = min(j, n - 1 - j) + 0.01 * n
            pos = s + j
            if pos not in best or score > best[pos][0]:
                best[pos] = (score, k)
    return [[best[s + j][1] == k for j in range(n)] for k, (s, n) in enumerate(zip(starts, lengths))]


MIN_CONTEXT = 4  # context sub-tokens a window must have room for


def _by_overlap(examples, q_lens, max_length: int, added: int, doc_stride: int) -> dict[int, list[int]]:
    """Example indices grouped by their windows' overlap: what is left of ``max_length`` after the question and
    the special tokens, less ``doc_stride`` (XTREME's run_squad.py windows); a question that leaves no room for
    the context is refused by name."""
    groups: dict[int, list[int]] = {}
    for i, q_len in enumerate(q_lens):
        budget = max_length - q_len - added
        if budget < MIN_CONTEXT:
            raise UserError(f"a max length of {max_length} sub-tokens leaves no room for the context after question "
                            f"'{clip(examples[i].question, 60)}' ({q_len} sub-tokens, {added} special); expected "
                            f"--max-length {q_len + added + MIN_CONTEXT} or more, or a lower max_query_length")
        overlap = min(max(budget - doc_stride, 0), budget - 1)
        groups.setdefault(overlap, []).append(i)
    return groups


def featurize(examples: Sequence[QAExample], tokenizer: Any, max_length: int = 384, doc_stride: int = 128,
              max_query_length: int = 64) -> FeatureList:
    """Windowed SQuAD features; one example can give several.

    Each feature: input_ids, attention_mask, [token_type_ids], example_index,
    window (rank within the example), offset_mapping (character span in the
    context per position, None for the question and special tokens),
    token_is_max_context (per position), context_start (index of the window's
    first context token among all context tokens) and context_length.
    """
    require_fast(tokenizer)
    added = tokenizer.num_special_tokens_to_add(pair=True)
    with_types = "token_type_ids" in tokenizer.model_input_names
    stats = {"examples": len(examples), "features": 0, "windowed": 0, "query_truncated": 0}
    questions, q_lens, stats["query_truncated"] = (
        _questions(tokenizer, [ex.question for ex in examples], max_query_length) if examples else ([], [], 0))
    groups = _by_overlap(examples, q_lens, max_length, added, doc_stride)

    per_example: list[list[dict]] = [[] for _ in examples]
    for overlap, idx in groups.items():
        enc = call(tokenizer, [questions[i] for i in idx], [examples[i].context for i in idx],
                   truncation="only_second", max_length=max_length, stride=overlap,
                   return_overflowing_tokens=True, return_offsets_mapping=True)
        for row, sample in enumerate(enc["overflow_to_sample_mapping"]):
            i = idx[sample]
            seq = enc.sequence_ids(row)
            offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][row], seq)]
            f: dict[str, Any] = {"input_ids": list(enc["input_ids"][row]),
                                 "attention_mask": list(enc["attention_mask"][row])}
            if with_types and MODEL_INPUTS[2] in enc:
                f["token_type_ids"] = list(enc["token_type_ids"][row])
            f["example_index"] = i
            f["offset_mapping"] = _clean_offsets(examples[i].context, offsets, enc.tokens(row))
            f["_overlap"] = overlap
            per_example[i].append(f)

    feats = FeatureList()
    for i, fs in enumerate(per_example):
        starts: list[int] = []
        lengths: list[int] = []
        first_pos: list[int] = []
        for k, f in enumerate(fs):
            ctx = [p for p, o in enumerate(f["offset_mapping"]) if o is not None]
            # the tokenizer starts each window ``overlap`` tokens before the previous one ended
            starts.append(starts[k - 1] + lengths[k - 1] - f["_overlap"] if k else 0)
            first_pos.append(ctx[0] if ctx else len(f["input_ids"]))
            lengths.append(len(ctx))
        flags = _max_context(starts, lengths)
        if len(fs) > 1:
            stats["windowed"] += 1
        for k, f in enumerate(fs):
            del f["_overlap"]
            is_max = [False] * len(f["input_ids"])
            for j, flag in enumerate(flags[k]):
                is_max[first_pos[k] + j] = flag
            f.update(window=k, token_is_max_context=is_max, context_start=starts[k], context_length=lengths[k])
            feats.append(f)
    stats["features"] = len(feats)
    feats.stats = stats
    return feats


_METASPACE_IDS: "weakref.WeakKeyDictionary[Any, np.ndarray]" = weakref.WeakKeyDictionary()


def _metaspace_ids(tokenizer: Any) -> np.ndarray:
    """Ids of the vocabulary's tokens made of nothing but '▁' (which ``_clean_offsets`` empties)."""
    if tokenizer not in _METASPACE_IDS:
        vocab = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=True)
        _METASPACE_IDS[tokenizer] = np.asarray(sorted(i for t, i in vocab.items() if t and not t.strip(_METASPACE)),
                                               dtype=np.int64)
    return _METASPACE_IDS[tokenizer]


_WHITESPACE = np.asarray([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)


def _next_visible(context: str) -> np.ndarray:
    """For every character position c (and len): the first position >= c whose character is not whitespace
    (``str.isspace``), or len."""
    codes = np.frombuffer(context.encode("utf-32-le"), dtype=np.uint32)
    n = len(codes)
    visible = np.flatnonzero(~np.isin(codes, _WHITESPACE))
    out = np.full(n + 1, n, dtype=np.int64)
    if len(visible):
        nxt = np.searchsorted(visible, np.arange(n + 1), side="left")
        ok = nxt < len(visible)
        out[ok] = visible[nxt[ok]]
    return out


def _questions_fast(tokenizer: Any, questions: list[str], max_query_length: int
                    ) -> tuple[list[str], list[int], int, list[list[int]]]:
    """:func:`_questions` with the tokenizer's Rust batch encoder, and the (cut) questions' ids."""
    ids = [e.ids for e in encode(tokenizer, questions, add_special_tokens=False)]
    lens = [len(x) for x in ids]
    out, cut = list(questions), 0
    long = [i for i, n in enumerate(lens) if n > max_query_length]
    if long:
        for i, e in zip(long, encode(tokenizer, [questions[i] for i in long], add_special_tokens=False,
                                     offsets=True)):
            cut += 1
            keep, offsets = max_query_length, e.offsets
            while True:  # re-tokenising the cut text can merge pieces differently; back off until it fits
                text = questions[i][:offsets[keep - 1][1]] if keep > 0 else ""
                got = encode(tokenizer, [text], add_special_tokens=False)[0].ids
                if len(got) <= max_query_length:
                    out[i], lens[i], ids[i] = text, len(got), got
                    break
                keep -= 1
    return out, lens, cut, ids


def _max_context_flags(starts: list[int], lengths: list[int]) -> list[np.ndarray]:
    """:func:`_max_context` with arrays: per window, per context token, is it the token's best window?"""
    if len(starts) == 1:
        return [np.ones(lengths[0], dtype=bool)]
    total = max(s + n for s, n in zip(starts, lengths))
    best = np.full(total, -np.inf)
    who = np.full(total, -1, dtype=np.int64)
    for k, (s, n) in enumerate(zip(starts, lengths)):
        j = np.arange(n)
        score = np.minimum(j, n - 1 - j) + 0.01 * n
        seg, owner = best[s:s + n], who[s:s + n]
        better = score > seg
        seg[better] = score[better]
        owner[better] = k
    return [who[s:s + n] == k for k, (s, n) in enumerate(zip(starts, lengths))]


def featurize_rows(examples: Sequence[QAExample], tokenizer: Any, max_length: int = 384, doc_stride: int = 128,
                   max_query_length: int = 64) -> Rows:
    """The features :func:`featurize` makes, as :class:`~.tokens.Rows`, from the tokenizer's Rust batch
    encoder: per row ``example_index``, ``window``, ``context_start`` and ``context_length``; per token the
    cleaned character span in the context (``char_start``/``char_end``, -1 where ``offset_mapping`` is None)
    and ``is_max`` (``token_is_max_context``)."""
    require_fast(tokenizer)
    added = tokenizer.num_special_tokens_to_add(pair=True)
    types = with_types(tokenizer)
    stats = {"examples": len(examples), "features": 0, "windowed": 0, "query_truncated": 0}
    if not examples:
        rows = Rows.empty(types, stats)
        rows.row = {k: np.zeros(0, np.int64) for k in ("example_index", "window", "context_start", "context_length")}
        rows.token = {"char_start": np.zeros(0, np.int32), "char_end": np.zeros(0, np.int32),
                      "is_max": np.zeros(0, bool)}
        return rows
    questions, q_lens, stats["query_truncated"], q_ids = _questions_fast(
        tokenizer, [ex.question for ex in examples], max_query_length)
    groups = _by_overlap(examples, q_lens, max_length, added, doc_stride)
    template = pair_template(tokenizer)
    if template is not None and (getattr(tokenizer, "truncation_side", "right") or "right") == "right":
        return _windows_of_contexts(examples, tokenizer, template, q_ids, groups, max_length, types, stats)

    metaspace = _metaspace_ids(tokenizer)
    unk = tokenizer.unk_token_id
    visible: dict[str, np.ndarray] = {}  # contexts are shared by questions
    per_example: list[list[tuple]] = [[] for _ in examples]
    for overlap, idx in groups.items():
        encs = encode(tokenizer, [questions[i] for i in idx], [examples[i].context for i in idx],
                      max_length=max_length, strategy="only_second", stride=overlap, offsets=True)
        for sample, first in enumerate(encs):
            i = idx[sample]
            context = examples[i].context
            if context not in visible:
                visible[context] = _next_visible(context)
            nxt = visible[context]
            for w in [first] + (first.overflowing or []):
                ids = np.asarray(w.ids, dtype=np.int64)
                ctx = np.asarray(w.sequence_ids, dtype=float) == 1
                a, b = _clean_spans(w, ids, nxt, metaspace, unk)
                a = np.where(ctx, a, -1)
                b = np.where(ctx, b, -1)
                per_example[i].append((ids, np.asarray(w.type_ids, dtype=IDS_DTYPE) if types else None,
                                       a, b, ctx, overlap))

    windows: list[tuple] = []
    for i, fs in enumerate(per_example):
        starts: list[int] = []
        lengths: list[int] = []
        first_pos: list[int] = []
        for k, (ids, _, _, _, ctx, overlap) in enumerate(fs):
            where = np.flatnonzero(ctx)
            # the tokenizer starts each window ``overlap`` tokens before the previous one ended
            starts.append(starts[k - 1] + lengths[k - 1] - overlap if k else 0)
            first_pos.append(int(where[0]) if len(where) else len(ids))
            lengths.append(len(where))
        if not fs:
            continue
        flags = _max_context_flags(starts, lengths)
        if len(fs) > 1:
            stats["windowed"] += 1
        for k, (ids, type_ids, a, b, _, _) in enumerate(fs):
            is_max = np.zeros(len(ids), dtype=bool)
            is_max[first_pos[k]:first_pos[k] + lengths[k]] = flags[k]
            windows.append((ids, type_ids, a, b, is_max, i, k, starts[k], lengths[k]))
    return _window_rows(windows, types, stats)


def _clean_spans(enc: Any, ids: np.ndarray, nxt: np.ndarray, metaspace: np.ndarray, unk: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The character span of every token of ``enc`` as :func:`_clean_offsets` makes it, with arrays (``nxt``:
    :func:`_next_visible` of the context its offsets point into); only context tokens' spans mean anything."""
    off = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
    a, b = off[:, 0].copy(), off[:, 1].copy()
    lone = np.isin(ids, metaspace)  # a lone '▁' stands for no character: an empty span
    odd = np.flatnonzero(ids == unk)
    if len(odd):  # an unknown piece's token is the text it covers, not the unknown token
        tokens = enc.tokens
        for p in odd.tolist():
            lone[p] = bool(tokens[p]) and not tokens[p].strip(_METASPACE)
    first_visible = nxt[np.minimum(a, len(nxt) - 1)]
    blank = first_visible >= b  # no visible character in [a, b)
    a = np.where(lone, np.where(blank, b, a), np.where(a < b, np.minimum(first_visible, b), a))
    b = np.where(lone, a, b)
    return a, b


def _window_rows(windows: list[tuple], types: bool, stats: dict) -> Rows:
    """:class:`~.tokens.Rows` of QA windows, each ``(ids, type ids, char starts, char ends, is_max, example,
    window, context start, context length)``."""
    stats["features"] = len(windows)
    ids, type_ids, a, b, is_max, example, window, cstart, clen = zip(*windows)
    starts = np.zeros(len(windows) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ids], out=starts[1:])
    return Rows(np.concatenate(ids).astype(IDS_DTYPE), starts, np.concatenate(type_ids) if types else None,
                {"example_index": np.asarray(example, np.int64), "window": np.asarray(window, np.int64),
                 "context_start": np.asarray(cstart, np.int64), "context_length": np.asarray(clen, np.int64)},
                {"char_start": np.concatenate(a).astype(np.int32), "char_end": np.concatenate(b).astype(np.int32),
                 "is_max": np.concatenate(is_max)},
                stats)


def _windows_of_contexts(examples, tokenizer, template: PairTemplate, q_ids: list[list[int]],
                         groups: dict[int, list[int]], max_length: int, types: bool, stats: dict) -> Rows:
    """The rows the pair encoder gives, with each distinct context encoded once (XQuAD asks about five
    questions per paragraph): a window is the template around the question and a slice of the context's
    tokens, the slices cut as the Rust encoder's ``only_second`` truncation cuts them (right side: windows
    ``budget`` tokens long, ``budget - overlap`` apart, the last one ending at the context's end)."""
    contexts: dict[str, int] = {}
    for ex in examples:
        contexts.setdefault(ex.context, len(contexts))
    encs = encode(tokenizer, list(contexts), add_special_tokens=False, offsets=True)
    ctx_ids = [np.asarray(e.ids, dtype=IDS_DTYPE) for e in encs]
    metaspace, unk = _metaspace_ids(tokenizer), tokenizer.unk_token_id
    spans = [_clean_spans(e, ids, _next_visible(c), metaspace, unk)
             for c, e, ids in zip(contexts, encs, ctx_ids)]
    overlap_of = {i: overlap for overlap, idx in groups.items() for i in idx}
    pre, mid, suf = template.prefix, template.middle, template.suffix
    p, m, s_ = len(pre), len(mid), len(suf)
    rows: list[tuple] = []
    for i, ex in enumerate(examples):
        c = contexts[ex.context]
        cids, (ca, cb) = ctx_ids[c], spans[c]
        q = np.asarray(q_ids[i], dtype=IDS_DTYPE)
        n_ctx, budget = len(cids), max_length - len(q) - template.added
        step = budget - overlap_of[i]
        if n_ctx <= budget:
            windows = [(0, n_ctx)]
        else:
            windows, start = [], 0
            while True:
                stop = min(start + budget, n_ctx)
                windows.append((start, stop))
                if stop == n_ctx:
                    break
                start += step
        starts = [w[0] for w in windows]
        lengths = [w[1] - w[0] for w in windows]
        flags = _max_context_flags(starts, lengths)
        if len(windows) > 1:
            stats["windowed"] += 1
        head = p + len(q) + m
        lead_types = np.concatenate([template.prefix_types, np.full(len(q), template.type_a, IDS_DTYPE),
                                     template.middle_types]) if types else None
        for k, (start, stop) in enumerate(windows):
            n = stop - start
            type_ids = np.concatenate([lead_types, np.full(n, template.type_b, IDS_DTYPE),
                                       template.suffix_types]) if types else None
            a = np.full(head + n + s_, -1, dtype=np.int64)
            b = a.copy()
            a[head:head + n] = ca[start:stop]
            b[head:head + n] = cb[start:stop]
            is_max = np.zeros(head + n + s_, dtype=bool)
            is_max[head:head + n] = flags[k]
            rows.append((np.concatenate([pre, q, mid, cids[start:stop], suf]), type_ids, a, b, is_max, i, k,
                         start, n))
    return _window_rows(rows, types, stats)


def rows_as_features(rows: Rows) -> list[dict]:
    """:class:`~.tokens.Rows` of :func:`featurize_rows` as the dicts :func:`featurize` makes."""
    out = []
    for j in range(len(rows)):
        f = rows.feature(j)
        a, b = f.pop("char_start"), f.pop("char_end")
        f["offset_mapping"] = [None if s < 0 else (s, e) for s, e in zip(a, b)]
        f["token_is_max_context"] = [bool(x) for x in f.pop("is_max")]
        out.append(f)
    return out


def _context_tokens(fs: list[dict]) -> list[tuple[int, int]]:
    """All context token spans of one example, rebuilt from its windows."""
    spans: list[tuple[int, int]] = []
    for f in fs:
        ctx = [o for o in f["offset_mapping"] if o is not None]
        spans.extend(ctx[len(spans) - f["context_start"]:])
    return spans


def char_to_token_span(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Context-token indices of the answer chars ``[start, end)``: the first token ending
    after ``start`` to the last token starting before ``end`` (empty tokens ignored)."""
    first = next((t for t, (s, e) in enumerate(spans) if e > s and e > start), None)
    last = next((t for t in range(len(spans) - 1, -1, -1)
                 if spans[t][1] > spans[t][0] and spans[t][0] < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def train_features(examples: Sequence[QAExample], tokenizer: Any, max_length: int = 384,
                   doc_stride: int = 128, max_query_length: int = 64) -> FeatureList:
    """``featurize`` plus start_positions/end_positions of the first gold answer.

    Windows that do not hold the whole answer point at CLS (0), as XTREME.
    Examples without an answer, or whose answer offset does not match the
    context, are skipped and counted in ``stats['skipped']``.
    """
    kept = [ex for ex in examples
            if ex.answers and ex.answers[0].text
            and ex.context[ex.answers[0].start:ex.answers[0].start + len(ex.answers[0].text)] == ex.answers[0].text]
    feats = featurize(kept, tokenizer, max_length, doc_stride, max_query_length)
    feats.stats["skipped"] = len(examples) - len(kept)
    by_example: dict[int, list[dict]] = {}
    for f in feats:
        by_example.setdefault(f["example_index"], []).append(f)
    for i, fs in by_example.items():
        ans = kept[i].answers[0]
        tok = char_to_token_span(_context_tokens(fs), ans.start, ans.start + len(ans.text))
        for f in fs:
            f["start_positions"] = f["end_positions"] = 0
            if tok is None:
                continue
            lo, hi = f["context_start"], f["context_start"] + f["context_length"] - 1
            if lo <= tok[0] and tok[1] <= hi:
                first = next(p for p, o in enumerate(f["offset_mapping"]) if o is not None)
                f["start_positions"] = first + tok[0] - lo
                f["end_positions"] = first + tok[1] - lo
    return feats


def _span_loss(start_logits, end_logits, start_positions, end_positions):
    """The mean of the start and end cross-entropies; positions outside the window are ignored (as HF's heads)."""
    from torch.nn import functional as F

    n = start_logits.size(1)
    s = start_positions.clamp(0, n)
    e = end_positions.clamp(0, n)
    return (F.cross_entropy(start_logits, s, ignore_index=n) + F.cross_entropy(end_logits, e, ignore_index=n)) / 2


def _top(logits: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest logits, earlier index first on ties (XTREME's ``_get_best_indexes``)."""
    return np.argsort(-logits, kind="stable")[:n]


class _View:
    """What decoding reads of one feature: per position the context span's first and last character (-1
    outside the context), whether the position has its most context in this feature, and the ids."""

    __slots__ = ("first", "last", "is_max", "ids")

    def __init__(self, first: np.ndarray, last: np.ndarray, is_max: np.ndarray, ids):
        self.first, self.last, self.is_max, self.ids = first, last, is_max, ids

    @classmethod
    def of(cls, f: dict) -> "_View":
        offs = f["offset_mapping"]
        first = np.fromiter((-1 if o is None else o[0] for o in offs), dtype=np.int64, count=len(offs))
        last = np.fromiter((-1 if o is None else o[1] for o in offs), dtype=np.int64, count=len(offs))
        return cls(first, last, np.asarray(f["token_is_max_context"], bool), f["input_ids"])

    def offsets(self) -> "_Spans":
        return _Spans(self.first, self.last)


class _Spans:
    """``offset_mapping`` read by position, from the two arrays."""

    def __init__(self, first, last):
        self.first, self.last = first, last

    def __getitem__(self, p):
        return (int(self.first[p]), int(self.last[p])) if self.first[p] >= 0 else None


def _candidates(f: dict, sl: np.ndarray, el: np.ndarray, n_best: int, max_answer_length: int):
    """(start, end) pairs of one feature that qualify, in XTREME's loop order (start-major), vectorised."""
    return _view_candidates(_View.of(f), sl, el, n_best, max_answer_length)


def _view_candidates(v: _View, sl: np.ndarray, el: np.ndarray, n_best: int, max_answer_length: int):
    size = len(v.first)
    context = v.first >= 0
    is_max = v.is_max
    s, e = _top(sl, n_best), _top(el, n_best)
    s_ok = s < size
    s_ok[s_ok] &= context[s[s_ok]] & is_max[s[s_ok]]
    e_ok = e < size
    e_ok[e_ok] &= context[e[e_ok]]
    ok = s_ok[:, None] & e_ok[None, :] & (e[None, :] >= s[:, None]) & (e[None, :] - s[:, None] + 1 <= max_answer_length)
    si, ei = np.nonzero(ok)
    return s[si], e[ei]


def decode(examples: Sequence[QAExample], features: Sequence[dict], start_logits: Sequence[np.ndarray],
           end_logits: Sequence[np.ndarray], n_best: int = 20, max_answer_length: int = 30,
           empty: str = "", tokenizer: Any = None, full: bool = True) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """Best answer text per question id (``empty`` where no span qualifies), and the n-best list behind it.

    The n-best entries carry text, start/end character offsets into the
    context, start_logit, end_logit and probability (softmax over the list),
    distinct texts only, best first; without ``full`` the list holds the best
    entry only (the answer needs no more, and each text costs a projection).
    Logits are read as given: pass them padded to ``max_length`` to
    reproduce XTREME's top-n choice exactly. With ``tokenizer`` a span's text
    is the one XTREME writes
    (:func:`~xtreme_harness.families.qa_text.xtreme_answer`); without, the
    context sliced at the span's character offsets.
    """
    if not (len(features) == len(start_logits) == len(end_logits)):
        raise ValueError(f"{len(features)} features but {len(start_logits)} start and "
                         f"{len(end_logits)} end logit arrays")
    return _decode(examples, [f["example_index"] for f in features], lambda j: _View.of(features[j]),
                   start_logits, end_logits, n_best, max_answer_length, empty, tokenizer, full)


def decode_rows(examples: Sequence[QAExample], rows: Rows, start_logits: Sequence[np.ndarray],
                end_logits: Sequence[np.ndarray], n_best: int = 20, max_answer_length: int = 30,
                empty: str = "", tokenizer: Any = None, full: bool = True) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """:func:`decode` over the :class:`~.tokens.Rows` of :func:`featurize_rows`."""
    if not (len(rows) == len(start_logits) == len(end_logits)):
        raise ValueError(f"{len(rows)} features but {len(start_logits)} start and "
                         f"{len(end_logits)} end logit arrays")
    bounds = rows.starts.tolist()
    first, last, is_max = rows.token["char_start"], rows.token["char_end"], rows.token["is_max"]

    def view(j):
        a, b = bounds[j], bounds[j + 1]
        return _View(first[a:b], last[a:b], is_max[a:b], rows.ids[a:b])

    return _decode(examples, rows.row["example_index"].tolist(), view, start_logits, end_logits, n_best,
                   max_answer_length, empty, tokenizer, full)


def _decode(examples, feature_example, view, start_logits, end_logits, n_best, max_answer_length, empty,
            tokenizer, full):
    from .qa_text import DocWords, xtreme_answer

    by_example: dict[int, list[int]] = {}
    for j, i in enumerate(feature_example):
        by_example.setdefault(i, []).append(j)

    answers: dict[str, str] = {}
    nbest_out: dict[str, list[dict]] = {}
    limit = n_best if full else 1
    doc_words: dict[str, DocWords] = {}  # questions share contexts
    for i, ex in enumerate(examples):
        parts = []  # per feature: (feature, starts, ends, start logits, end logits), in XTREME's order
        views = {}
        for j in by_example.get(i, []):
            sl, el = np.asarray(start_logits[j], dtype=np.float64), np.asarray(end_logits[j], dtype=np.float64)
            views[j] = view(j)
            s, e = _view_candidates(views[j], sl, el, n_best, max_answer_length)
            if len(s):
                parts.append((np.full(len(s), j), s, e, sl[s], el[e]))
        best: list[dict] = []
        if parts:
            js, ss, es, sls, els = (np.concatenate(x) for x in zip(*parts))
            scores = sls + els
            order = np.argsort(-scores, kind="stable")  # ties keep XTREME's order, as its stable sort does
            seen: set[str] = set()
            if tokenizer is not None and ex.context not in doc_words:
                doc_words[ex.context] = DocWords(ex.context)
            words = doc_words.get(ex.context) if tokenizer is not None else None
            for k in order:
                if len(best) >= limit:
                    break
                v, s, e = views[int(js[k])], int(ss[k]), int(es[k])
                a, b = int(v.first[s]), int(v.last[e])
                while a < b and ex.context[a].isspace():
                    a += 1
                while b > a and ex.context[b - 1].isspace():
                    b -= 1
                if words is not None:  # XTREME keeps any text it projects, an empty one too
                    ids = v.ids if isinstance(v.ids, list) else v.ids.tolist()
                    text = xtreme_answer(tokenizer, words, ids, v.offsets(), s, e)
                    if text in seen:
                        continue
                else:
                    text = ex.context[a:b]
                    if not text or text in seen:
                        continue
                seen.add(text)
                best.append({"text": text, "start": a, "end": b, "start_logit": float(sls[k]),
                             "end_logit": float(els[k]), "score": float(scores[k])})
        if best:
            sc = np.array([c["score"] for c in best])
            probs = np.exp(sc - sc.max())
            probs /= probs.sum()
            for c, p in zip(best, probs):
                c["probability"] = float(p)
        answers[ex.id] = best[0]["text"] if best else empty
        nbest_out[ex.id] = best
    return answers, nbest_out


def _null_answers(examples, feats, starts, ends, answers, nbest) -> dict[str, str]:
    """SQuAD 2.0: "" where the CLS score (the lowest over a question's windows) beats the best span
    (``feats``: the features, or the example index of each)."""
    null: dict[int, float] = {}
    for f, s, e in zip(feats, starts, ends):
        score = float(s[0] + e[0])
        i = f if isinstance(f, int) else f["example_index"]
        null[i] = min(null.get(i, score), score)
    out = {}
    for i, ex in enumerate(examples):
        best = nbest.get(ex.id) or []
        span = best[0]["score"] if best else -np.inf
        out[ex.id] = "" if null.get(i, -np.inf) > span else answers.get(ex.id, "")
    return out


class QA(Family):
    name = "qa"
    head = "ForQuestionAnswering"
    auto_class = "AutoModelForQuestionAnswering"
    formats = ("squad_json",)
    submissions = ("qa_json",)
    defaults = {"max_length": 384, "doc_stride": 128, "max_query_length": 64, "n_best": 20, "max_answer_length": 30,
}
    run_options = ("nbest_over", "answer_text")

    def read(self, spec, paths, lang, limit):
        return squad.read_squad(paths["data"], limit, all_or_none=True)

    def read_hf(self, spec, ds, lang, limit, where):
        from ..formats.hub import head

        ds = head(ds, limit)
        cols = spec.hf.columns
        out = []
        for row in ds:
            ans = row[cols["answers"]] or {}
            context = row[cols["context"]]
            answers = []
            for text, start in zip(ans.get("text", []), ans.get("answer_start", [])):
                if context[start:start + len(text)] != text:
                    raise UserError(f"answer_start {start} of question {show(row[cols['id']])} does not "
                                    "point at its answer text in the context", where)
                answers.append(Answer(text=text, start=int(start)))
            out.append(QAExample(id=str(row[cols["id"]]), question=row[cols["question"]], context=context,
                                 answers=answers, title=str(row.get(cols.get("title", ""), "") or "")))
        return out

    source_roles = (frozenset({"context", "question"}),
                    frozenset({"id", "title", "answers", "answer_text", "answer_start"}))
    source_json = "squad_json"

    def default_metric(self, features):
        return "squad_v2" if features.get("unanswerable") else "squad"

    def check_source_columns(self, spec, source, columns):
        super().check_source_columns(spec, source, columns)
        if not ({"answers"} & set(columns) or {"answer_text", "answer_start"} <= set(columns)):
            raise UserError(f"source {source.name} of {spec.task} needs an 'answers' column (or answer_text and "
                            "answer_start)", spec.source_file)

    def from_record(self, spec, record, ex_id):
        from ..formats.records import answer_list

        context = str(record.col("context"))
        answers = answer_list(record.col("answers"), record.col("answer_text"), record.col("answer_start"))
        good = [a for a in answers if a.start >= 0 and context[a.start:a.start + len(a.text)] == a.text and a.text]
        if (answers and not good) or (not good and not spec.features.get("unanswerable")):
            return None
        return QAExample(id=ex_id, question=str(record.col("question")), context=context, answers=good,
                         title=str(record.col("title", "") or ""))

    def gold(self, spec, examples):
        """Answer texts per question; an unanswerable question ([] ) counts only where the task allows them."""
        if not examples or not (spec.features.get("unanswerable") or all(ex.answers for ex in examples)):
            return None
        return [[a.text for a in ex.answers] for ex in examples]

    def predict(self, spec, examples, settings, model, lang=""):
        answers, stats = self.answers(examples, model, settings, f"{spec.task}/{lang}")
        return Predictions(spec.task, lang, examples, {ex.id: answers.get(ex.id, "") for ex in examples}, stats)

    def rows(self, examples, head, settings, ahead=False):
        m, stride, q = settings["max_length"], settings["doc_stride"], settings["max_query_length"]
        return cached_rows(head, "qa", {"max_length": m, "doc_stride": stride, "max_query_length": q},
                           lambda: featurize_rows(examples, head.tokenizer, max_length=m, doc_stride=stride,
                                                  max_query_length=q), ahead)

    def answers(self, examples, head, settings, desc: str = ""):
        """Best answer per question id and the featurisation counts.

        With ``settings['unanswerable']`` (SQuAD 2.0) a question is answered ""
        when its CLS score beats the best span, threshold 0 as in the
        reference code.
        """
        rows = self.rows(examples, head, settings)

        def forward(call, batch):
            out = call(batch)
            return {"start_logits": out["start_logits"], "end_logits": out["end_logits"]}

        padded = settings.get("nbest_over") != "real-tokens"  # XTREME's top-n over padded positions unless told
        outs = head.run(rows, forward, desc=desc, token_keys=["start_logits", "end_logits"],
                        pad_to=settings["max_length"] if padded else None)
        starts = outs.per_row("start_logits") if len(rows) else []
        ends = outs.per_row("end_logits") if len(rows) else []
        answers, nbest = decode_rows(examples, rows, starts, ends, n_best=settings["n_best"],
                                     max_answer_length=settings["max_answer_length"],
                                     empty=OFFICIAL_EMPTY if padded else "", full=False,
                                     tokenizer=None if settings.get("answer_text") == "offsets" else head.tokenizer)
        if settings.get("unanswerable"):
            answers = _null_answers(examples, rows.row["example_index"].tolist(), starts, ends, answers, nbest)
        stats = dict(rows.stats)
        stats["empty_answers"] = sum(1 for ex in examples if not nbest.get(ex.id))
        return answers, stats

    def train_features(self, spec, examples, tokenizer, settings, labels=None):
        """Answerable questions point at their first gold answer; with ``unanswerable`` (SQuAD 2.0) the others
        are kept and every window of theirs points at CLS (position 0), as BERT/XLM-R on SQuAD 2.0."""
        m, stride, q = settings["max_length"], settings["doc_stride"], settings["max_query_length"]
        answerable = [ex for ex in examples if ex.answers]
        feats = train_features(answerable, tokenizer, m, stride, q)
        stats = dict(feats.stats)
        if settings.get("unanswerable"):
            empty = [ex for ex in examples if not ex.answers]
            extra = featurize(empty, tokenizer, m, stride, q)
            for f in extra:
                f["start_positions"] = f["end_positions"] = 0
                f["example_index"] += len(answerable)
            feats = FeatureList(list(feats) + list(extra), stats)
            feats.stats["unanswerable"] = len(empty)
        else:
            feats.stats["skipped"] = stats.get("skipped", 0) + (len(examples) - len(answerable))
        return feats

    def collate(self, features, pad_id):
        import torch

        batch = super().collate(features, pad_id)
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features], dtype=torch.long)
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features], dtype=torch.long)
        return batch

    def scored(self, spec, predictions):
        return [predictions.output[ex.id] for ex in predictions.examples]

    def training_head(self, hidden, num_labels, dropout):
        from torch import nn

        return nn.Linear(hidden, 2)

    def head_outputs(self, head, hidden, input_shape, targets):
        values = head(hidden).float()
        out = {"start_logits": values[..., 0], "end_logits": values[..., 1]}
        if targets.get("start_positions") is not None and targets.get("end_positions") is not None:
            out["loss"] = _span_loss(out["start_logits"], out["end_logits"], targets["start_positions"],
                                     targets["end_positions"])
        return out

    def write_output(self, spec, path, output):
        squad.write_qa(path, output)

    def write_gold(self, spec, path, gold, examples):
        from ..io.files import atomic_write_json

        paras = [{"context": ex.context, "qas": [{"id": ex.id, "question": ex.question,
                                                  "answers": [{"text": a.text, "answer_start": a.start}
                                                              for a in ex.answers]}]} for ex in examples]
        atomic_write_json(path, {"version": "1.1", "data": [{"title": "", "paragraphs": paras}]}, indent=None)

    def read_pair(self, spec, pred_path, label_path):
        gold = lines.not_empty(squad.read_qa_gold(label_path), label_path, "SQuAD JSON with at least one question")
        preds = squad.read_qa_predictions(pred_path)
        known = {qid for qid, _ in gold}
        unknown = [qid for qid in preds if qid not in known]
        if unknown:
            from ..io.files import read_text

            raise UserError(f"question id {show(unknown[0])} is not in the labels file {label_path}"
                            f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}",
                            pred_path, json_path_line(read_text(pred_path), [unknown[0]]))
        return [answers for _, answers in gold], [preds.get(qid) for qid, _ in gold]

    def read_output(self, spec, path):
        return len(squad.read_qa_predictions(path))
