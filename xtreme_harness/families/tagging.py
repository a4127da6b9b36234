"""Word-level tagging (UD-POS, PAN-X): one tag per word, read off the word's first sub-token.

What follows XTREME (``run_tag.py``, ``utils_tag.py``, ``utils_preprocess.py``):
labels sit on the first sub-token of each word (-100 elsewhere); a word that
tokenises to nothing, or to more sub-tokens than fit in a window, is replaced
by the unknown token; RoBERTa-style tokenizers (``<s>``/``</s>``, i.e. XLM-R)
get XTREME's doubled separator ``<s> ... </s></s>``.

What differs on purpose: XTREME cuts sentences longer than ``max_length``
into consecutive chunks in a preprocessing step. Here they are cut into
windows at word boundaries that overlap by up to ``stride`` sub-tokens, and
each word is predicted in exactly one window, the one giving it the most
context on both sides (the SQuAD "max context" rule). ``stride=0`` gives
XTREME's chunks exactly.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..data.examples import TaggingExample
from . import FeatureList, require_fast
from .classification import allowed_ids

IGNORE_INDEX = -100  # CrossEntropyLoss().ignore_index, XTREME's pad_token_label_id


def _template(tokenizer: Any, sep_token_extra: bool) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a single sequence."""
    enc = tokenizer([[tokenizer.unk_token]], is_split_into_words=True, add_special_tokens=True)
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


def featurize(examples: Sequence[TaggingExample], tokenizer: Any, max_length: int = 128, stride: int = 32,
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
    require_fast(tokenizer)
    if sep_token_extra is None:
        sep_token_extra = is_roberta_style(tokenizer)
    prefix, suffix = _template(tokenizer, sep_token_extra)
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_length {max_length} leaves no room for words after the special tokens")
    stride = max(0, min(stride, budget // 2))
    with_types = "token_type_ids" in tokenizer.model_input_names
    unk = tokenizer.unk_token_id

    stats = {"examples": len(examples), "features": 0, "words": 0, "windowed": 0,
             "empty_subtoken_words": 0, "long_words": 0}
    feats = FeatureList()
    todo = [i for i, ex in enumerate(examples) if ex.tokens]
    enc = tokenizer([list(examples[i].tokens) for i in todo], is_split_into_words=True,
                    add_special_tokens=False) if todo else None
    for row, i in enumerate(todo):
        ex = examples[i]
        n = len(ex.tokens)
        stats["words"] += n
        pieces: list[list[int]] = [[] for _ in range(n)]
        for tok_id, w in zip(enc["input_ids"][row], enc.word_ids(row)):
            if w is not None:
                pieces[w].append(tok_id)
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
            ids = list(prefix)
            word_ids = [-1] * len(prefix)
            word_index = [-1] * len(prefix)
            labels = [IGNORE_INDEX] * len(prefix)
            for w in range(s, e):
                mine = owner[w] == k
                for j, tok_id in enumerate(pieces[w]):
                    ids.append(tok_id)
                    word_ids.append(w)
                    word_index.append(w if mine and j == 0 else -1)
                    if gold is not None and mine and (j == 0 or label_all_subtokens):
                        labels.append(gold[w])
                    else:
                        labels.append(IGNORE_INDEX)
            ids += suffix
            word_ids += [-1] * len(suffix)
            word_index += [-1] * len(suffix)
            labels += [IGNORE_INDEX] * len(suffix)
            f: dict[str, Any] = {"input_ids": ids, "attention_mask": [1] * len(ids)}
            if with_types:
                f["token_type_ids"] = [0] * len(ids)
            f.update(example_index=i, window=k, word_ids=word_ids, word_index=word_index)
            if gold is not None:
                f["labels"] = labels
            feats.append(f)
    stats["features"] = len(feats)
    feats.stats = stats
    return feats


def decode(features: Sequence[dict], token_logits_per_feature: Sequence[np.ndarray],
           examples: Sequence[TaggingExample], id2label: Mapping[int, str],
           label_map: Mapping[str, str] | None = None) -> list[list[str]]:
    """Exactly one task tag per word of every example, from ``[len, num_labels]`` logits per feature.

    Logits may be longer than the feature (padding); only owned first sub-tokens are read.
    """
    if len(features) != len(token_logits_per_feature):
        raise ValueError(f"{len(token_logits_per_feature)} logit arrays for {len(features)} features")
    ids = np.asarray(allowed_ids(id2label, label_map))
    names = [id2label[int(i)] for i in ids]
    if label_map is not None:
        names = [label_map[n] for n in names]
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
