"""Ranked-retrieval files: Mewsli-X mentions and candidate entities, and the ``{query id: [ids]}`` ranking JSON."""

from __future__ import annotations

import re
from pathlib import Path

from ..io.errors import UserError
from ..io.files import present, read_text
from ..io.jsonfile import (
    has_foreign_digit,
    json_lines,
    json_path_line,
    load_json,
    load_json_text,
)
from ..io.messages import json_type, show
from .examples import RankingSet
from .lines import check_id

_BRACES = re.compile(r"\{(.*?)\}")


def _normalise(text: str) -> str:
    """``" ".join(text.splitlines()).replace("  ", " ").strip()``: one pass, so three spaces leave two."""
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def _spans(value, text: str, what: str, where: tuple[Path, int]) -> list[tuple[int, int]]:
    """A list of ``{"start": int, "end": int}`` spans that lie inside ``text``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{what} are {json_type(value)}; expected a list of {{start, end}} objects",
                        *where)
    out = []
    for span in value:
        s = span.get("start") if isinstance(span, dict) else None
        e = span.get("end") if isinstance(span, dict) else None
        if type(s) is not int or type(e) is not int or not 0 <= s <= e <= len(text):
            raise UserError(f"{what} hold {show(span)}; expected {{start, end}} integers inside the "
                            f"text of {len(text)} characters", *where)
        out.append((s, e))
    return out


def mention_query(context: dict, mention: dict, where: tuple[Path, int]) -> str:
    """The query text of one mention, as ``utils_mewslix.preprocess_mention`` builds it.

    Only the sentence holding the mention is kept; braces around it become
    parentheses; the mention is marked ``{ m }`` and put first: ``"m: left { m } right"``.
    """
    span = mention.get("mention_span")
    span = span if isinstance(span, dict) else {}
    start, end, text = span.get("start"), span.get("end"), span.get("text")
    if not (type(start) is int and type(end) is int and isinstance(text, str)):
        raise UserError("a mention lacks 'mention_span' {start, end, text} (integers and a string)", *where)
    spans = _spans(context.get("sentence_spans"), context["text"], "the context's 'sentence_spans'", where)
    sentence = next(((s, e) for s, e in spans if s <= start < e and s < end <= e), None)
    if sentence is None:
        raise UserError(f"mention {show(text)} lies in no sentence span (or crosses one); Mewsli-X keeps "
                        "the mention's sentence only", *where)
    s0, e0 = sentence
    sent = context["text"][s0:e0]
    left = _BRACES.sub(r"(\1)", sent[:start - s0])
    right = _BRACES.sub(r"(\1)", sent[end - s0:])
    return _normalise(f"{text}: {left} {{ {text} }} {right}")


def entity_text(entity: dict, where: tuple[Path, int] | None = None) -> str:
    """``utils_mewslix.preprocess_entity_description``: the description's sentences joined by spaces."""
    desc = entity.get("description") or ""
    where = where or (None, None)
    if not isinstance(desc, str):
        raise UserError(f"the entity's 'description' is {json_type(desc)}; expected a string", *where)
    spans = _spans(entity.get("sentence_spans"), desc, "the entity's 'sentence_spans'", where)
    return _normalise(" ".join(desc[s:e] for s, e in spans))


def read_candidates(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for i, rec in json_lines(path, "candidate file", "one entity object per line"):
        eid = rec.get("entity_id")
        if not isinstance(eid, str) or not eid:
            raise UserError("an entity lacks its 'entity_id'", path, i)
        check_id(eid, "entity_id", path, i)
        if eid in seen:
            raise UserError(f"duplicate entity_id {show(eid)}", path, i)
        seen.add(eid)
        ids.append(eid)
        texts.append(entity_text(rec, (path, i)))
    if not ids:
        raise UserError("no candidate entities", path)
    return ids, texts


def read_mewslix(paths, lang: str, limit: int | None = None) -> RankingSet:
    """Mentions of one language (``wikinews_mentions/<split>-<lang>.jsonl``) against the candidate entities.

    Gold comes from ``wikinews_labels/<split>-<lang>.json`` (``{example_id: [QID]}``);
    XTREME-R's preprocessing blanks the test labels (``[""]``), which reads as no gold.
    """
    qids, queries = [], []
    seen: set[str] = set()
    for i, rec in json_lines(paths["data"], "data file", "one Mewsli-X document object per line"):
        context = rec.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("text"), str):
            raise UserError("a line lacks its 'context' with 'text' and 'sentence_spans'", paths["data"], i)
        mentions = rec.get("mentions") or []
        if not isinstance(mentions, list):
            raise UserError(f"'mentions' are {json_type(mentions)}; expected a list of mention objects",
                            paths["data"], i)
        for m in mentions:
            if not isinstance(m, dict) or not isinstance(m.get("example_id"), str) or not m["example_id"]:
                raise UserError("a mention lacks its 'example_id'", paths["data"], i)
            if m["example_id"] in seen:
                raise UserError(f"duplicate example_id {show(m['example_id'])}; expected each mention "
                                "once", paths["data"], i)
            seen.add(m["example_id"])
            qids.append(m["example_id"])
            queries.append(mention_query(context, m, (paths["data"], i)))
            if limit is not None and len(qids) >= limit:
                break
        if limit is not None and len(qids) >= limit:
            break
    if not qids:
        raise UserError("no mentions; expected Mewsli-X mention JSON lines", paths["data"])
    cand_ids, cand_text = read_candidates(paths["candidates"])
    relevant = None
    gold = paths.get("gold")
    if present(gold):
        labels = read_ranking_json(str(gold), "labels file")
        golds = [[g.strip() for g in labels.get(q, [])[:1] if g.strip()] for q in qids]
        if any(golds):
            missing = next((q for q, g in zip(qids, golds) if not g), None)
            if missing is not None:
                raise UserError(f"example {show(missing)} has no gold entity but others do", gold)
            relevant = golds
    return RankingSet(lang=lang, query_ids=qids, queries=queries, candidate_ids=cand_ids, candidates=cand_text,
                      relevant=relevant)


RANKING_EXPECTED = "a JSON object mapping each query id to a list of candidate id strings"


def read_ranking_json(path: str, what: str) -> dict[str, list[str]]:
    """``{query id: [candidate ids, best first]}`` (predictions) or ``{query id: [relevant ids]}`` (labels)."""
    data, text = load_json(path, what, key="query id")
    keys: tuple = ()
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data, keys = data["data"], ("data",)  # evaluate.py's read_squad unwraps a top-level 'data' key
    if not isinstance(data, dict):
        raise UserError(f"found {json_type(data)}; expected {RANKING_EXPECTED}", path, 1)
    for qid, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise UserError(f"the entry of {show(qid)} must be a list of candidate id strings", path,
                            json_path_line(text, (*keys, qid)))
        for k, x in enumerate((qid, *ids)):
            if has_foreign_digit(x):
                raise UserError(f"id {show(x)} holds a non-ASCII digit; expected ids written with ASCII "
                                "digits (they are compared as text)", path,
                                json_path_line(text, (*keys, qid, k - 1) if k else (*keys, qid)))
    return data


def entry_line(path: str, qid: str) -> int | None:
    """The line of a query's entry in a ranking file (under its 'data' key where it has one)."""
    text = read_text(path)
    data = load_json_text(text, path)
    wrapped = isinstance(data, dict) and isinstance(data.get("data"), dict)
    return json_path_line(text, ("data", qid) if wrapped else (qid,))
