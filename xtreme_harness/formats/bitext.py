"""Bitext files: Tatoeba's sentence-aligned pairs and BUCC's id-tagged corpora with gold pairs."""

from __future__ import annotations

from pathlib import Path

from ..io.errors import UserError
from ..io.files import present, read_lines
from ..io.messages import show
from .examples import RetrievalSet
from .lines import PAIRS_EXPECTED, check_id, read_id_pairs, read_indices


def read_tatoeba(paths, lang: str, limit: int | None = None) -> RetrievalSet:
    """``<xx>-en.<xx>`` and the sorted ``<xx>-en.en``; gold line j = the xx line translating English line j.

    That is the orientation XTREME scores (English queries). A labels file must
    be a permutation of the non-English line numbers, one line per English line.
    """
    src_path, tgt_path, gold = paths["data"], paths["english"], paths.get("gold")
    source = read_lines(src_path, "data file")
    target = read_lines(tgt_path, "data file")
    for p, lines in ((src_path, source), (tgt_path, target)):
        if not lines:
            raise UserError("no sentences; expected one sentence per line", p)
    gold_idx = None
    if present(gold):
        values = read_indices(str(gold), "labels file")
        if len(values) != len(target):
            raise UserError(f"{len(values)} gold indices for {len(target)} English sentences in {tgt_path}; "
                            "expected one line per English sentence", gold, min(len(values), len(target)) + 1)
        if len(source) != len(target):
            raise UserError(f"{len(source)} sentences in {src_path} but {len(target)} in {tgt_path}; gold "
                            "alignment needs one translation per line on both sides", gold)
        gold_idx = [int(v) for v in values]  # read_indices let through canonical ASCII integers only
        first: dict[int, int] = {}
        for i, v in enumerate(gold_idx, 1):
            if v >= len(source):
                raise UserError(f"index {v} is past the end of {src_path} ({len(source)} lines); expected a "
                                f"0-based line number of the non-English file", gold, i)
            if v in first:
                raise UserError(f"index {v} appears twice (also on line {first[v]}); expected a permutation of "
                                f"0..{len(source) - 1}", gold, i)
            first[v] = i
    queries = len(target) if limit is None else min(limit, len(target))
    if gold_idx is not None:
        # Keep both sides intact: only the English queries are limited.
        gold_idx = gold_idx[:queries]
    return RetrievalSet(lang=lang, source=source, target=target, gold=gold_idx, queries=queries)


def _read_id_sentences(path: Path) -> tuple[list[str], list[str]]:
    ids, sents, seen = [], [], set()
    for i, line in enumerate(read_lines(path, "data file"), 1):
        cols = line.split("\t", 1)
        if len(cols) != 2 or not cols[0].strip():
            raise UserError("expected '<id><TAB><sentence>'", path, i)
        sid = check_id(cols[0].strip(), "sentence id", path, i)
        if sid in seen:
            raise UserError(f"duplicate sentence id {show(sid)}; expected each id once", path, i)
        seen.add(sid)
        ids.append(sid)
        sents.append(cols[1])
    if not ids:
        raise UserError("no sentences; expected '<id><TAB><sentence>' lines", path)
    return ids, sents


def read_bucc(paths, lang: str, limit: int | None = None) -> RetrievalSet:
    """BUCC ``<xx>-en.<split>.{xx,en,gold}``: id<TAB>sentence files and gold id pairs (the scorer's pair reader)."""
    src_ids, src = _read_id_sentences(paths["data"])
    tgt_ids, tgt = _read_id_sentences(paths["english"])
    gold_file = paths["gold"]
    pairs = None
    if present(gold_file):
        sset, tset = set(src_ids), set(tgt_ids)
        pairs, lines = read_id_pairs(gold_file, "gold file")
        for (xx, en), i in zip(pairs, lines):
            if xx not in sset or en not in tset:
                raise UserError(f"gold pair {show(xx)} / {show(en)} names a sentence id not "
                                "in the corpus files", gold_file, i)
        if not pairs:  # F1 against no gold would be a silent 0
            raise UserError(f"no gold pairs; expected {PAIRS_EXPECTED} lines", gold_file)
    if limit is not None:
        src_ids, src = src_ids[:limit], src[:limit]
        if pairs is not None:
            keep = set(src_ids)
            pairs = [p for p in pairs if p[0] in keep]
    return RetrievalSet(lang=lang, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids,
                        gold_pairs=pairs)
