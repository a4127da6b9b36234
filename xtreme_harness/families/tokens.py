"""Tokenising straight into arrays: the ``tokenizers`` library's batch encoding, features as columns.

Calling a transformers fast tokenizer runs the Rust batch encoder and then
converts every encoding into Python lists of dicts (ids, type ids, masks,
offsets, word ids), which costs more than the encoding itself. The families'
inference paths instead call the tokenizer's Rust backend
(``backend_tokenizer.encode_batch``) the way transformers' ``__call__`` sets it
up (truncation strategy, stride and side, no padding, special tokens split or
not) and lay the ids out as flat arrays: :class:`Rows` holds variable-length
token rows as one id array plus row boundaries, with per-row and per-token
bookkeeping columns beside them, which the engine pads batch by batch without
a Python loop and which the feature cache stores as they are.
``tests/test_fast_tokenize.py`` checks, family by family and on real
tokenizers, that every feature equals the one the transformers call gives.
"""

from __future__ import annotations

import threading
import weakref
from itertools import chain
from typing import Any, Mapping, Sequence

import numpy as np

IDS_DTYPE = np.int32  # token ids and type ids as stored; padded to int64 per batch


class Rows:
    """Token rows of different lengths as columns: ``ids`` (all rows end to end), ``starts`` (row ``i`` is
    ``ids[starts[i]:starts[i + 1]]``), ``types`` (token type ids, aligned with ``ids``, or None when the model
    takes none), ``row`` (one value per row: example index, window ...) and ``token`` (one value per token,
    aligned with ``ids``: word ids, character offsets ...). Every row's attention mask is all ones."""

    __slots__ = ("ids", "starts", "types", "row", "token", "stats")

    def __init__(self, ids: np.ndarray, starts: np.ndarray, types: np.ndarray | None = None,
                 row: Mapping[str, np.ndarray] | None = None, token: Mapping[str, np.ndarray] | None = None,
                 stats: Mapping[str, int] | None = None):
        self.ids, self.starts, self.types = ids, starts, types
        self.row: dict[str, np.ndarray] = dict(row or {})
        self.token: dict[str, np.ndarray] = dict(token or {})
        self.stats: dict[str, int] = dict(stats or {})

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)

    @property
    def input_keys(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask") + (("token_type_ids",) if self.types is not None else ())

    def feature(self, i: int) -> dict[str, Any]:
        """Row ``i`` as the feature dict the list-of-dicts path builds (lists of ints, per-row values as
        Python scalars): for equality tests and for code that wants one feature."""
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        out: dict[str, Any] = {"input_ids": self.ids[a:b].tolist(), "attention_mask": [1] * (b - a)}
        if self.types is not None:
            out["token_type_ids"] = self.types[a:b].tolist()
        for k, v in self.row.items():
            out[k] = v[i].item()
        for k, v in self.token.items():
            out[k] = v[a:b].tolist()
        return out

    def take(self, idx: Sequence[int]) -> "Rows":
        """The rows ``idx`` (in that order) as a new :class:`Rows`."""
        idx = np.asarray(idx, dtype=np.int64)
        lens = self.lengths[idx]
        src = gather_index(self.starts[idx], lens)
        starts = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lens, out=starts[1:])
        return Rows(self.ids[src], starts, None if self.types is None else self.types[src],
                    {k: v[idx] for k, v in self.row.items()}, {k: v[src] for k, v in self.token.items()},
                    self.stats)

    # --- the feature cache stores a Rows as named arrays -----------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        out = {"ids": self.ids, "starts": self.starts}
        if self.types is not None:
            out["types"] = self.types
        out.update({f"row.{k}": v for k, v in self.row.items()})
        out.update({f"token.{k}": v for k, v in self.token.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], stats: Mapping[str, int] | None = None) -> "Rows":
        return cls(arrays["ids"], arrays["starts"], arrays.get("types"),
                   {k[4:]: v for k, v in arrays.items() if k.startswith("row.")},
                   {k[6:]: v for k, v in arrays.items() if k.startswith("token.")}, stats)

    @classmethod
    def empty(cls, with_types: bool = False, stats: Mapping[str, int] | None = None) -> "Rows":
        return cls(np.zeros(0, IDS_DTYPE), np.zeros(1, np.int64), np.zeros(0, IDS_DTYPE) if with_types else None,
                   stats=stats)


class Columns:
    """A model's outputs over :class:`Rows`, in row order: an output with one value per row as an
    ``[n, ...]`` array; an output with one value per position flat, ``[sum of widths, ...]``, row ``i`` at
    ``starts[i]:starts[i + 1]`` (a row's width is its length, or the length it was padded to)."""

    def __init__(self, n: int, values: Mapping[str, np.ndarray], token_keys: Sequence[str], starts: np.ndarray):
        self.n, self.values, self.token_keys, self.starts = n, dict(values), tuple(token_keys), starts

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def per_row(self, key: str) -> list[np.ndarray]:
        """One array per row (views), as the list-of-dicts path returns them."""
        v = self.values[key]
        if key not in self.token_keys:
            return list(v)
        s = self.starts.tolist()
        return [v[s[i]:s[i + 1]] for i in range(self.n)]

    def padded(self, key: str) -> np.ndarray:
        """A per-token output as ``[n, width, ...]``: every row must have the same width."""
        v = self.values[key]
        width = int(self.starts[1] - self.starts[0]) if self.n else 0
        if self.n and int(self.starts[-1]) != width * self.n:
            raise ValueError(f"output {key!r} has rows of different widths")
        return v.reshape((self.n, width) + v.shape[1:])

    @classmethod
    def from_list(cls, outputs: Sequence[Mapping[str, np.ndarray]], token_keys: Sequence[str]) -> "Columns":
        """Per-feature outputs (the list-of-dicts form) as columns."""
        n = len(outputs)
        keys = list(outputs[0]) if n else []
        widths = np.array([len(o[token_keys[0]]) for o in outputs] if n and token_keys else [0] * n, np.int64)
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(widths, out=starts[1:])
        values = {k: (np.concatenate([np.asarray(o[k]) for o in outputs]) if k in token_keys
                      else np.stack([np.asarray(o[k]) for o in outputs])) for k in keys}
        return cls(n, values, [k for k in keys if k in token_keys], starts)


def gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat positions ``starts[r] + 0 .. starts[r] + lengths[r] - 1`` of every row ``r``, row after row."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    within = np.arange(total, dtype=np.int64) - np.repeat(ends - lengths, lengths)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + within


def flat(lists: Sequence[Sequence[int]], dtype=IDS_DTYPE) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ints end to end, and their boundaries (``starts``)."""
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    starts = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    values = np.fromiter(chain.from_iterable(lists), dtype=dtype, count=int(starts[-1]))
    return values, starts


def with_types(tokenizer: Any) -> bool:
    """Whether the tokenizer hands the model token type ids (transformers' ``return_token_type_ids`` default)."""
    return "token_type_ids" in getattr(tokenizer, "model_input_names", ())


def encode(tokenizer: Any, texts: Sequence[Any], pairs: Sequence[str] | None = None, *,
           max_length: int | None = None, strategy: str = "longest_first", stride: int = 0,
           add_special_tokens: bool = True, pretokenized: bool = False, offsets: bool = False) -> list:
    """``tokenizers`` encodings of ``texts`` (with ``pairs`` as second segments), as a transformers fast
    tokenizer's ``__call__`` makes them: truncation to ``max_length`` (None: none) with ``strategy``, ``stride``
    and the tokenizer's truncation side, no padding, special tokens in the text split or not as the tokenizer
    says. ``offsets=False`` allows the encoder that skips character offsets, where the library has it. The
    backend's own truncation and padding settings are put back afterwards."""
    with _ENCODING:
        return _encode(tokenizer, texts, pairs, max_length, strategy, stride, add_special_tokens, pretokenized,
                       offsets)


#: :func:`encode` sets the backend's truncation and padding for one call and puts them back, and transformers'
#: ``__call__`` sets them for its call; the run loop featurises the next (task, language) in a thread while the
#: model runs, so every call that may set them takes its turn (:func:`encode`, :func:`call`).
_ENCODING = threading.Lock()


def call(tokenizer: Any, *args: Any, **kwargs: Any) -> Any:
    """``tokenizer(*args, **kwargs)`` (transformers' ``__call__``), taking turns with :func:`encode`: it sets the
    backend's truncation for its call, which would otherwise change another thread's encoding mid-call."""
    with _ENCODING:
        return tokenizer(*args, **kwargs)


def _encode(tokenizer, texts, pairs, max_length, strategy, stride, add_special_tokens, pretokenized, offsets):
    backend = tokenizer.backend_tokenizer
    saved_trunc, saved_pad = backend.truncation, backend.padding
    split = bool(getattr(tokenizer, "split_special_tokens", False))
    saved_split = getattr(backend, "encode_special_tokens", split)
    try:
        if max_length is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(max_length, stride=stride, strategy=strategy,
                                      direction=getattr(tokenizer, "truncation_side", "right") or "right")
        backend.no_padding()
        if saved_split != split:
            backend.encode_special_tokens = split
        batch = list(texts) if pairs is None else list(zip(texts, pairs))
        run = backend.encode_batch if offsets or not hasattr(backend, "encode_batch_fast") \
            else backend.encode_batch_fast
        return run(batch, add_special_tokens=add_special_tokens, is_pretokenized=pretokenized)
    finally:
        if saved_trunc is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(**saved_trunc)
        if saved_pad is None:
            backend.no_padding()
        else:
            backend.enable_padding(**saved_pad)
        if getattr(backend, "encode_special_tokens", saved_split) != saved_split:
            backend.encode_special_tokens = saved_split


def rows_of(encodings: Sequence[Any], types: bool, stats: Mapping[str, int] | None = None) -> Rows:
    """One row per encoding (its ids, and its type ids when ``types``)."""
    ids, starts = flat([e.ids for e in encodings])
    type_ids = flat([e.type_ids for e in encodings])[0] if types else None
    return Rows(ids, starts, type_ids, stats=stats)


class PairTemplate:
    """How the tokenizer's post-processor lays out a pair: ``prefix`` + first + ``middle`` + second +
    ``suffix`` (special token ids, and their type ids), the first segment's tokens typed ``type_a``, the
    second's ``type_b``."""

    def __init__(self, ids: tuple, types: tuple, type_a: int, type_b: int):
        self.prefix, self.middle, self.suffix = (np.asarray(x, dtype=IDS_DTYPE) for x in ids)
        self.prefix_types, self.middle_types, self.suffix_types = (np.asarray(x, dtype=IDS_DTYPE) for x in types)
        self.type_a, self.type_b = type_a, type_b

    @property
    def added(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


_TEMPLATES: "weakref.WeakKeyDictionary[Any, PairTemplate | None]" = weakref.WeakKeyDictionary()
#: Post-processors whose output is a fixed template around the two segments, whatever their content.
_TEMPLATE_PROCESSORS = {"TemplateProcessing", "BertProcessing", "RobertaProcessing"}
_PROBES = (("hello world, this is", "a"), ("a", "hello world, this is it"), ("x y", "z w v"))


def pair_template(tokenizer: Any) -> PairTemplate | None:
    """The pair layout of ``tokenizer``, read off probe pairs encoded both ways; None where the post-processor
    is not a plain template (then pairs are encoded as pairs)."""
    try:
        return _TEMPLATES[tokenizer]
    except (KeyError, TypeError):
        pass
    found = None
    processor = getattr(tokenizer.backend_tokenizer, "post_processor", None)
    if processor is not None and type(processor).__name__ in _TEMPLATE_PROCESSORS:
        layouts = set()
        for x, y in _PROBES:
            pair = encode(tokenizer, [x], [y])[0]
            ex, ey = encode(tokenizer, [x, y], add_special_tokens=False)
            layouts.add(_layout_of(pair.ids, pair.type_ids, ex.ids, ey.ids))
        if len(layouts) == 1 and None not in layouts:
            found = PairTemplate(*layouts.pop())
    try:
        _TEMPLATES[tokenizer] = found
    except TypeError:  # not weak-referenceable: work it out each time
        pass
    return found


def _layout_of(ids: list, types: list, x: list, y: list):
    """The unique (prefix, middle, suffix) split with ``ids == prefix + x + middle + y + suffix`` and one type
    per segment, as hashable tuples; None if there is not exactly one."""
    found = []
    extra = len(ids) - len(x) - len(y)
    for p in range(extra + 1):
        for m in range(extra - p + 1):
            a, b = p + len(x), p + len(x) + m
            if ids[p:a] != x or ids[b:b + len(y)] != y:
                continue
            ta, tb = set(types[p:a]), set(types[b:b + len(y)])
            if len(ta) > 1 or len(tb) > 1:
                continue
            found.append(((tuple(ids[:p]), tuple(ids[a:b]), tuple(ids[b + len(y):])),
                          (tuple(types[:p]), tuple(types[a:b]), tuple(types[b + len(y):])),
                          ta.pop() if ta else 0, tb.pop() if tb else 0))
    return found[0] if len(found) == 1 else None


def pair_rows(tokenizer: Any, a: Sequence[str], b: Sequence[str], max_length: int | None, types: bool,
              strategy: str = "longest_first") -> tuple[Rows, np.ndarray]:
    """``rows_of(encode(tokenizer, a, b, max_length=..., strategy=...), types)``, and every pair's untruncated
    length, with each distinct text encoded once: XNLI's premises come three times, XCOPA's twice. A
    segment is encoded the same alone as in a pair (the Rust encoder encodes each one by itself and then
    lays out the template), so only pairs over ``max_length`` go through the pair encoder, for its truncation."""
    template = pair_template(tokenizer)
    if template is None or not len(a):
        encs = encode(tokenizer, a, b, max_length=max_length, strategy=strategy)
        rows = rows_of(encs, types)
        whole = rows.lengths.copy()
        if max_length is not None:
            full = np.flatnonzero(whole >= max_length).tolist()
            if full:
                whole[full] = [len(e.ids) for e in encode(tokenizer, [a[i] for i in full], [b[i] for i in full])]
        return rows, whole
    index: dict[str, int] = {}
    ia = np.fromiter((index.setdefault(t, len(index)) for t in a), dtype=np.int64, count=len(a))
    ib = np.fromiter((index.setdefault(t, len(index)) for t in b), dtype=np.int64, count=len(b))
    uids, ustarts = flat([e.ids for e in encode(tokenizer, list(index), add_special_tokens=False)])
    ulens = np.diff(ustarts)
    la, lb = ulens[ia], ulens[ib]
    whole = la + lb + template.added
    over = np.flatnonzero(whole > max_length) if max_length is not None else np.zeros(0, np.int64)
    lengths = whole.copy()
    cut = encode(tokenizer, [a[i] for i in over], [b[i] for i in over], max_length=max_length,
                 strategy=strategy) if len(over) else []
    lengths[over] = [len(e.ids) for e in cut]
    starts = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    ids = np.empty(int(starts[-1]), dtype=IDS_DTYPE)
    tids = np.empty(int(starts[-1]), dtype=IDS_DTYPE) if types else None
    keep = np.ones(len(a), dtype=bool)
    keep[over] = False
    rs = starts[:-1][keep]
    ka, kb = la[keep], lb[keep]
    p, m = len(template.prefix), len(template.middle)
    spans = ((template.prefix, template.prefix_types, rs),
             (template.middle, template.middle_types, rs + p + ka),
             (template.suffix, template.suffix_types, rs + p + ka + m + kb))
    for special, special_types, at in spans:
        for k in range(len(special)):
            ids[at + k] = special[k]
            if tids is not None:
                tids[at + k] = special_types[k]
    for seg, ln, at, typ in ((ia[keep], ka, rs + p, template.type_a), (ib[keep], kb, rs + p + ka + m, template.type_b)):
        dst = gather_index(at, ln)
        ids[dst] = uids[gather_index(ustarts[seg], ln)]
        if tids is not None:
            tids[dst] = typ
    for i, e in zip(over.tolist(), cut):
        ids[starts[i]:starts[i + 1]] = e.ids
        if tids is not None:
            tids[starts[i]:starts[i + 1]] = e.type_ids
    return Rows(ids, starts, tids), whole


__all__ = ["Columns", "IDS_DTYPE", "PairTemplate", "Rows", "call", "encode", "flat", "gather_index", "pair_rows",
           "pair_template", "rows_of", "with_types"]
