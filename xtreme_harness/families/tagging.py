"""Word-level tagging (UD-POS, PAN-X): one tag per word, read off the word's first sub-token.

What follows XTREME (``run_tag.py``, ``utils_tag.py``, ``utils_preprocess.py``):
labels sit on the first sub-token of each word (-100 elsewhere); a word that
tokenises to nothing, or to more sub-tokens than fit in a window, is replaced
by the unknown token; RoBERTa-style tokenizers (``<s>``/``</s>``, i.e. XLM-R)
get XTREME's doubled separator ``<s> ... </s></s>``.

A sentence longer than ``max_length`` is cut, as XTREME's preprocessing
(``utils_preprocess.py``, ``panx_tokenize_preprocess``/``udpos_tokenize_preprocess``)
cuts it, into consecutive chunks: words are added while their sub-tokens fit
in ``max_length`` less the special tokens, and the word that does not fit
starts the next chunk; each chunk is predicted on its own.

``windows: overlap`` (``--tagging-windows overlap``) cuts it instead into
windows that overlap by up to ``stride`` sub-tokens, each word predicted in
the one window giving it the most context on both sides (the SQuAD "max
context" rule): not official, but no word starts a window blind.
"""


from __future__ import annotations

import weakref
from typing import Any, Mapping, Sequence

import numpy as np

from ..formats import lines
from ..formats.conll import read_conll
from ..formats.examples import TaggingExample
from ..io.errors import UserError
from .base import Family, FeatureList, Predictions, cached_rows, keep_logits, pad_rows, require_fast
from .tokens import IDS_DTYPE, Rows, call, encode, flat, gather_index, with_types

OVERLAP_STRIDE = 32
IGNORE_INDEX = -100  # CrossEntropyLoss().ignore_index, XTREME's pad_token_label_id


def _template(tokenizer: Any, sep_token_extra: bool) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a single sequence."""
    enc = call(tokenizer, [[tokenizer.unk_token]], is_split_into_words=True, add_special_tokens=True)
    ids, wids = enc["input_ids"][0], enc.word_ids(0)
    first = wids.index(0)
    last = len(wids) - 1 - wids[::-1].index(0)
    prefix, suffix = list(ids[:first]), list(ids[last + 1:])
    if sep_token_extra:
        suffix.append(tokenizer.sep_token_id)
    return prefix, suffix


def is_roberta_style(tokenizer: Any) -> bool:
    """XTREME's ``sep_token_extra`` models (roberta, xlmr) are the ones with ``<s>``/``</s>`` specials."""
    return tokenizer.cls_token == "<s>" and tokenizer.sep_token == "</s>"


def windows(lengths: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` of at most ``budget`` sub-tokens; consecutive ranges
    share trailing words worth at most ``stride`` sub-tokens (each length must be <= budget)."""
    n = len(lengths)
    if sum(lengths) <= budget:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        end, total = start, 0
        while end < n and total + lengths[end] <= budget:
            total += lengths[end]
            end += 1
        out.append((start, end))
        if end >= n:
            return out
        nxt, overlap = end, 0
        while nxt - 1 > start and overlap + lengths[nxt - 1] <= stride:
            nxt -= 1
            overlap += lengths[nxt]
        start = nxt


def assign(lengths: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each word, the window where its first sub-token has the most context.

    Score = min(sub-tokens left, sub-tokens right) + 0.01 * window length, the
    first best window winning ties, as ``_check_is_max_context`` in XTREME's SQuAD code.
    """
    best = [-1] * len(lengths)
    best_score = [-1.0] * len(lengths)
    for k, (s, e) in enumerate(spans):
        total = sum(lengths[s:e])
        left = 0
        for w in range(s, e):
            score = min(left, total - left - 1) + 0.01 * total
            if score > best_score[w]:
                best_score[w], best[w] = score, k
            left += lengths[w]
    return best


_PIECES: "weakref.WeakKeyDictionary[Any, dict[str, list[int]]]" = weakref.WeakKeyDictionary()


def word_pieces(tokenizer: Any, words: set[str]) -> dict[str, list[int]]:
    """Sub-token ids of each word tokenised on its own, as XTREME's ``utils_tag.py`` tokenises words; one
    batch call for the words not seen before, kept per tokenizer for the run (languages share words)."""
    table = _PIECES.setdefault(tokenizer, {})
    new = sorted(w for w in words if w not in table)
    if new:
        enc = call(tokenizer, [[w] for w in new], is_split_into_words=True, add_special_tokens=False)
        for w, ids in zip(new, enc["input_ids"]):
            table[w] = ids
    return table


def _layout(tokenizer: Any, max_length: int, stride: int, sep_token_extra: bool | None
            ) -> tuple[list[int], list[int], int, int]:
    """A window's special tokens around its words, the sub-tokens left for words, and the stride within that
    (``sep_token_extra=None`` follows XTREME: on for RoBERTa-style tokenizers)."""
    require_fast(tokenizer)
    if sep_token_extra is None:
        sep_token_extra = is_roberta_style(tokenizer)
    prefix, suffix = _template(tokenizer, sep_token_extra)
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_length {max_length} leaves no room for words after the special tokens")
    return prefix, suffix, budget, max(0, min(stride, budget // 2))


def featurize(examples: Sequence[TaggingExample], tokenizer: Any, max_length: int = 128, stride: int = 0,
              label2id: Mapping[str, int] | None = None, label_all_subtokens: bool = False,
              sep_token_extra: bool | None = None) -> FeatureList:
    """Features for word-level tagging, windowed so that no word is ever dropped.

    Each feature: input_ids, attention_mask, [token_type_ids], example_index,
    window (its rank within the example), word_ids (word of every position, -1
    for specials) and word_index (the word predicted at a position: set only on
    the first sub-token of the words this window owns, -1 elsewhere). With
    ``label2id`` and gold tags, ``labels`` holds label ids where ``word_index``
    is set (on every sub-token of owned words if ``label_all_subtokens``) and -100 elsewhere.
    ``sep_token_extra=None`` follows XTREME: on for RoBERTa-style tokenizers.
    """
    prefix, suffix, budget, stride = _layout(tokenizer, max_length, stride, sep_token_extra)
    with_types = "token_type_ids" in tokenizer.model_input_names
    unk = tokenizer.unk_token_id

    stats = {"examples": len(examples), "features": 0, "words": 0, "windowed": 0,
             "empty_subtoken_words": 0, "long_words": 0}
    feats = FeatureList()
    todo = [i for i, ex in enumerate(examples) if ex.tokens]
    table = word_pieces(tokenizer, {w for i in todo for w in examples[i].tokens})
    n_pre, n_suf = len(prefix), len(suffix)
    for i in todo:
        ex = examples[i]
        n = len(ex.tokens)
        stats["words"] += n
        pieces = [table[w] for w in ex.tokens]
        for w in range(n):
            if not pieces[w]:
                stats["empty_subtoken_words"] += 1
                pieces[w] = [unk]
            elif len(pieces[w]) > budget:
                stats["long_words"] += 1
                pieces[w] = [unk]
        lengths = [len(p) for p in pieces]
        spans = windows(lengths, budget, stride)
        owner = assign(lengths, spans)
        if len(spans) > 1:
            stats["windowed"] += 1
        gold = None
        if label2id is not None and ex.tags is not None:
            if len(ex.tags) != n:
                raise ValueError(f"example {ex.id}: {n} words but {len(ex.tags)} tags")
            gold = [label2id[t] for t in ex.tags]
        for k, (s, e) in enumerate(spans):
            ids, word_ids, word_index = list(prefix), [-1] * n_pre, [-1] * n_pre
            labels = [IGNORE_INDEX] * n_pre if gold is not None else None
            for w in range(s, e):
                m = lengths[w]
                mine = owner[w] == k
                ids += pieces[w]
                word_ids += [w] * m
                word_index.append(w if mine else -1)
                if m > 1:
                    word_index += [-1] * (m - 1)
                if labels is not None:
                    if mine:
                        labels += [gold[w]] * m if label_all_subtokens else [gold[w]] + [IGNORE_INDEX] * (m - 1)
                    else:
                        labels += [IGNORE_INDEX] * m
            ids += suffix
            word_ids += [-1] * n_suf
            word_index += [-1] * n_suf
            f: dict[str, Any] = {"input_ids": ids, "attention_mask": [1] * len(ids)}
            if with_types:
                f["token_type_ids"] = [0] * len(ids)
            f.update(example_index=i, window=k, word_ids=word_ids, word_index=word_index)
            if labels is not None:
                f["labels"] = labels + [IGNORE_INDEX] * n_suf
            feats.append(f)
    stats["features"] = len(feats)
    feats.stats = stats
    return feats


def _pieces_of(tokenizer: Any, words: Sequence[str]) -> dict[str, list[int]]:
    """:func:`word_pieces` from the tokenizer's Rust batch encoder (the same ids; the table is shared)."""
    table = _PIECES.setdefault(tokenizer, {})
    new = sorted({w for w in words if w not in table})
    if new:
        encs = encode(tokenizer, [[w] for w in new], add_special_tokens=False, pretokenized=True)
        for w, e in zip(new, encs):
            table[w] = e.ids
    return table


def featurize_rows(examples: Sequence[TaggingExample], tokenizer: Any, max_length: int = 128, stride: int = 0,
                   sep_token_extra: bool | None = None) -> Rows:
    """The features :func:`featurize` makes for prediction (no labels), as :class:`~.tokens.Rows`, built with
    array operations: per row ``example_index`` and ``window``; per token ``word_ids`` and ``word_index``.
    Only sentences longer than a window go through :func:`windows` and :func:`assign` one by one."""
    prefix, suffix, budget, stride = _layout(tokenizer, max_length, stride, sep_token_extra)
    types = with_types(tokenizer)
    unk = tokenizer.unk_token_id
    stats = {"examples": len(examples), "features": 0, "words": 0, "windowed": 0,
             "empty_subtoken_words": 0, "long_words": 0}
    todo = [i for i, ex in enumerate(examples) if ex.tokens]
    if not todo:
        return Rows.empty(types, stats)
    vocab: dict[str, int] = {}
    occ = np.fromiter((vocab.setdefault(w, len(vocab)) for i in todo for w in examples[i].tokens), dtype=np.int64)
    table = _pieces_of(tokenizer, list(vocab))
    pieces, pstart = flat([table[w] for w in vocab])
    plen = np.diff(pstart)
    pieces = np.append(pieces, np.asarray([unk], dtype=pieces.dtype))  # the unknown token, last
    n_words = np.fromiter((len(examples[i].tokens) for i in todo), dtype=np.int64, count=len(todo))
    ex_word = np.zeros(len(todo) + 1, dtype=np.int64)  # each example's first word among all words
    np.cumsum(n_words, out=ex_word[1:])
    length = plen[occ]
    empty, long = length == 0, length > budget
    stats["words"] = int(ex_word[-1])
    stats["empty_subtoken_words"] = int(empty.sum())
    stats["long_words"] = int(long.sum())
    bad = empty | long
    length = np.where(bad, 1, length)
    first_piece = np.where(bad, len(pieces) - 1, pstart[occ])

    # windows: one per sentence that fits, else windows() and assign() for that sentence alone
    totals = np.add.reduceat(length, ex_word[:-1])
    owner = np.zeros(len(occ), dtype=np.int64)  # the window that predicts each word
    f_ex: list[int] = []
    f_win: list[int] = []
    f_lo: list[int] = []
    f_hi: list[int] = []
    over = totals > budget
    if over.any():
        for e in range(len(todo)):
            lo = int(ex_word[e])
            hi = int(ex_word[e + 1])
            if over[e]:
                lens = length[lo:hi].tolist()
                spans = windows(lens, budget, stride)
                owner[lo:hi] = assign(lens, spans)
                if len(spans) > 1:
                    stats["windowed"] += 1
            else:
                spans = [(0, hi - lo)]
            for k, (a, b) in enumerate(spans):
                f_ex.append(e)
                f_win.append(k)
                f_lo.append(lo + a)
                f_hi.append(lo + b)
        feat_ex, feat_win = np.asarray(f_ex, np.int64), np.asarray(f_win, np.int64)
        feat_lo, feat_hi = np.asarray(f_lo, np.int64), np.asarray(f_hi, np.int64)
    else:
        feat_ex = np.arange(len(todo), dtype=np.int64)
        feat_win = np.zeros(len(todo), dtype=np.int64)
        feat_lo, feat_hi = ex_word[:-1], ex_word[1:]
    n_feat = len(feat_ex)

    # word occurrences, feature after feature (a word of two overlapping windows occurs twice)
    span = feat_hi - feat_lo
    g = gather_index(feat_lo, span)  # global word of every occurrence
    o_feat = np.repeat(np.arange(n_feat), span)
    o_word = g - ex_word[feat_ex][o_feat]  # its index within the sentence
    o_len = length[g]
    o_owned = owner[g] == feat_win[o_feat]
    o_first = np.zeros(n_feat + 1, dtype=np.int64)  # each feature's first occurrence
    np.cumsum(span, out=o_first[1:])
    n_pre, n_suf = len(prefix), len(suffix)
    f_len = np.add.reduceat(o_len, o_first[:-1]) + n_pre + n_suf
    starts = np.zeros(n_feat + 1, dtype=np.int64)
    np.cumsum(f_len, out=starts[1:])
    before = np.cumsum(o_len) - o_len  # sub-tokens before each occurrence, counted from the first feature
    o_pos = starts[o_feat] + n_pre + before - before[o_first[:-1]][o_feat]

    total = int(starts[-1])
    ids = np.empty(total, dtype=IDS_DTYPE)
    word_ids = np.full(total, -1, dtype=np.int32)
    word_index = np.full(total, -1, dtype=np.int32)
    tok = gather_index(o_pos, o_len)
    ids[tok] = pieces[gather_index(first_piece[g], o_len)]
    word_ids[tok] = np.repeat(o_word, o_len)
    word_index[o_pos[o_owned]] = o_word[o_owned]
    if n_pre:
        ids[gather_index(starts[:-1], np.full(n_feat, n_pre))] = np.tile(np.asarray(prefix, IDS_DTYPE), n_feat)
    if n_suf:
        ids[gather_index(starts[1:] - n_suf, np.full(n_feat, n_suf))] = np.tile(np.asarray(suffix, IDS_DTYPE), n_feat)
    stats["features"] = n_feat
    return Rows(ids, starts, np.zeros(total, dtype=IDS_DTYPE) if types else None,
                {"example_index": np.asarray(todo, dtype=np.int64)[feat_ex], "window": feat_win},
                {"word_ids": word_ids, "word_index": word_index}, stats)


def decode_rows(rows: Rows, logits: np.ndarray, examples: Sequence[TaggingExample],
                labels: Mapping[int, str]) -> list[list[str]]:
    """:func:`decode` over :class:`~.tokens.Rows`: ``logits`` holds one ``[num_labels]`` row per token of
    ``rows`` (row after row), and every owned first sub-token's argmax is read at once."""
    ids = np.asarray(sorted(labels))
    if not len(ids):
        raise ValueError("no model label maps to a task tag")
    names = [labels[int(i)] for i in ids]
    n_words = np.fromiter((len(ex.tokens) for ex in examples), dtype=np.int64, count=len(examples))
    first = np.zeros(len(examples) + 1, dtype=np.int64)
    np.cumsum(n_words, out=first[1:])
    pred = np.full(int(first[-1]), -1, dtype=np.int64)
    wi = rows.token.get("word_index", np.zeros(0, dtype=np.int32))
    pos = np.flatnonzero(wi >= 0)
    if len(pos):
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[0] != len(wi):
            raise ValueError(f"logits of shape {logits.shape} do not cover {len(wi)} token positions")
        best = np.argmax(logits[pos][:, ids], axis=1)
        feat = np.repeat(np.arange(len(rows)), rows.lengths)[pos]
        pred[first[rows.row["example_index"][feat]] + wi[pos]] = best
    if (pred < 0).any():
        k = int(np.searchsorted(first, int(np.flatnonzero(pred < 0)[0]), side="right")) - 1
        row = pred[first[k]:first[k + 1]]
        missing = np.flatnonzero(row < 0)[:5].tolist()
        raise ValueError(f"example {examples[k].id}: no prediction for word(s) {missing}; "
                         "were the features made from these examples?")
    tags = [names[b] for b in pred.tolist()]
    bounds = first.tolist()
    return [tags[bounds[k]:bounds[k + 1]] for k in range(len(examples))]


def decode(features: Sequence[dict], token_logits_per_feature: Sequence[np.ndarray],
           examples: Sequence[TaggingExample], labels: Mapping[int, str]) -> list[list[str]]:
    """Exactly one task tag per word of every example, from ``[len, num_labels]`` logits per feature.

    ``labels`` maps model label ids to task tags; an id it leaves out is never
    predicted. Logits may be longer than the feature (padding); only owned
    first sub-tokens are read.
    """
    if len(features) != len(token_logits_per_feature):
        raise ValueError(f"{len(token_logits_per_feature)} logit arrays for {len(features)} features")
    ids = np.asarray(sorted(labels))
    if not len(ids):
        raise ValueError("no model label maps to a task tag")
    names = [labels[int(i)] for i in ids]
    preds: list[list[str | None]] = [[None] * len(ex.tokens) for ex in examples]
    for f, logits in zip(features, token_logits_per_feature):
        pos = [p for p, w in enumerate(f["word_index"]) if w >= 0]
        if not pos:
            continue
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[0] <= pos[-1]:
            raise ValueError(f"logits of shape {logits.shape} do not cover a feature of "
                             f"{len(f['input_ids'])} positions")
        best = np.argmax(logits[pos][:, ids], axis=1)
        row = preds[f["example_index"]]
        for p, b in zip(pos, best):
            row[f["word_index"][p]] = names[int(b)]
    for ex, row in zip(examples, preds):
        missing = [w for w, t in enumerate(row) if t is None]
        if missing:
            raise ValueError(f"example {ex.id}: no prediction for word(s) {missing[:5]}; "
                             "were the features made from these examples?")
    return preds  # type: ignore[return-value]


def _stride(settings) -> int:
    """Sub-tokens shared by consecutive windows: none for XTREME's chunks."""
    return OVERLAP_STRIDE if settings.get("windows") == "overlap" else 0


class Tagging(Family):
    name = "tagging"
    head = "ForTokenClassification"
    auto_class = "AutoModelForTokenClassification"
    formats = ("conll",)
    submissions = ("tags",)
    needs_labels = True
    defaults = {"max_length": 128}
    run_options = ("windows",)

    def read(self, spec, paths, lang, limit):
        return read_conll(paths["data"], spec.labels, paths.get("gold"), limit, lang)

    def read_hf(self, spec, ds, lang, limit, where):
        from ..formats.hub import class_names, head, label_name

        ds = head(ds, limit)
        cols = spec.hf.columns
        names = class_names(ds, cols["tags"])
        out = []
        for k, row in enumerate(ds):
            tags = [label_name(t, names, spec.labels, where) for t in row[cols["tags"]]] if row[cols["tags"]] else None
            out.append(TaggingExample(id=f"{lang}-{k}", tokens=list(row[cols["tokens"]]), tags=tags))
        return out

    def gold(self, spec, examples):
        return [ex.tags for ex in examples] if examples and all(ex.tags is not None for ex in examples) else None

    source_roles = (frozenset({"tokens", "tags"}), frozenset({"id"}))
    source_text = "conll"
    labels_from_data = True

    def default_metric(self, features):
        return "token_accuracy"

    def from_record(self, spec, record, ex_id):
        tokens = [str(t) for t in record.col("tokens")]
        tags = [record.label(t, "tags", skip=False) for t in record.col("tags")]
        if len(tags) != len(tokens):
            record.fail(f"has {len(tokens)} tokens but {len(tags)} tags")
        return TaggingExample(id=ex_id, tokens=tokens, tags=tags) if tokens else None

    def rows(self, examples, head, settings, ahead=False):
        m, stride = settings["max_length"], _stride(settings)
        return cached_rows(head, "tagging", {"max_length": m, "stride": stride},
                           lambda: featurize_rows(examples, head.tokenizer, max_length=m, stride=stride), ahead)

    def predict(self, spec, examples, settings, model, lang=""):
        rows = self.rows(examples, model, settings)
        outs = model.run(rows, keep_logits, desc=f"{spec.task}/{lang}", token_keys=["logits"])
        preds = decode_rows(rows, outs["logits"] if len(rows) else np.zeros((0, 0)), examples, model.labels)
        return Predictions(spec.task, lang, examples, preds, dict(rows.stats))

    def train_features(self, spec, examples, tokenizer, settings, labels=None):
        """Features of the sentences that have tags; windows without an owned word are dropped."""
        feats = featurize(examples, tokenizer, max_length=settings["max_length"], stride=_stride(settings),
                          label2id={label: i for i, label in enumerate(labels or ())},
                          label_all_subtokens=bool(settings.get("label_all_subtokens")))
        kept = FeatureList([f for f in feats if any(v != IGNORE_INDEX for v in f["labels"])], feats.stats)
        return kept

    def collate(self, features, pad_id):
        batch = super().collate(features, pad_id)
        batch["labels"] = pad_rows([f["labels"] for f in features], IGNORE_INDEX)
        return batch

    def training_head(self, hidden, num_labels, dropout):
        from torch import nn

        return nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_labels))

    def head_outputs(self, head, hidden, input_shape, targets):
        from torch.nn import functional as F

        out = {"logits": head(hidden)}
        labels = targets.get("labels")
        if labels is not None:
            values = out["logits"]
            out["loss"] = F.cross_entropy(values.float().reshape(-1, values.size(-1)), labels.reshape(-1),
                                          ignore_index=IGNORE_INDEX)
        return out

    def read_pair(self, spec, pred_path, label_path):
        labels, _ = lines.non_empty(*lines.read_tag_gold(label_path, spec.labels, "labels file"))
        preds, starts = lines.non_empty(*lines.read_tag_sentences(pred_path, spec.labels,
                                                                            "prediction file"))
        if len(preds) != len(labels):
            line = starts[len(labels)] if len(preds) > len(labels) else None
            raise UserError(f"{len(preds)} sentences but the labels file {label_path} has {len(labels)}; "
                            "expected one tag per token and a blank line after each sentence", pred_path, line)
        for k, (p, g) in enumerate(zip(preds, labels)):
            if len(p) != len(g):
                raise UserError(f"sentence {k + 1} has {len(p)} tags but its gold sentence has {len(g)}",
                                pred_path, starts[k])
        return labels, preds

    def read_output(self, spec, path):
        return len(lines.non_empty(*lines.read_tag_sentences(path, spec.labels, "prediction file"))[0])
