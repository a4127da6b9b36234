"""Retrieval with sentence embeddings (Tatoeba, BUCC, LAReQA, Mewsli-X): any encoder, no task head.

The spec's ``retrieval`` block says which protocol a task follows:

* ``method: nearest`` (Tatoeba): each query's nearest sentence by cosine on the
  other side. ``queries: en`` is XTREME's direction: ``third_party/evaluate_retrieval.py``
  calls ``similarity_search(x_src, y_en)``, indexing the non-English side and
  searching it with the sorted English side; the reverse direction and the mean
  of both are secondary figures.
* ``method: margin`` (BUCC): ratio-margin mining as ``third_party/utils_retrieve.py``
  (see :mod:`xtreme_harness.mining`), the threshold chosen on ``threshold_split``
  (the BUCC sample set, ``dev``) and applied with ``>=``. The ``search``
  setting (``exact``, the official protocol and default; ``ivf`` or ``pca``)
  picks how its k-NN is searched, on both splits alike.
* ``method: ranking`` (LAReQA, Mewsli-X): the top ``k`` candidates of every
  query from a shared pool. ``pool: languages`` pools the candidates of every
  language of the task (LAReQA: each answer sentence with its paragraph, as
  ``evaluate_retrieval.py`` builds them), ``pool: file`` reads a candidate file
  (Mewsli-X's ``candidate_set_entities.jsonl``).

Embeddings: :mod:`xtreme_harness.embedding` (``--retrieval-layer``, ``--pooling``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import mining
from ..data import submission
from ..data.examples import RankingSet, RetrievalSet
from ..data.io import read_lines
from ..data.readers import present
from ..data.submission import read_indices
from ..errors import UserError
from . import Family, Predictions, register


def split_files(spec, root: Path, lang: str, split: str) -> dict[str, Path]:
    """Every file one language of one split reads ('data' first, 'gold' when there is one)."""
    s = spec.splits[split]
    base = root / s.path.format(lang=lang)
    method = spec.retrieval.get("method")
    if method == "nearest":
        out = {"data": Path(f"{base}.{lang}"), "english": Path(f"{base}.en")}
    elif method == "margin":
        out = {"data": Path(f"{base}.{lang}"), "english": Path(f"{base}.en"), "gold": Path(f"{base}.gold")}
    else:
        out = {"data": base}
        if spec.retrieval.get("pool") == "languages":
            for other in spec.all_languages():
                if other != lang:
                    out[f"pool:{other}"] = root / s.path.format(lang=other)
        if s.candidates:
            out["candidates"] = root / s.candidates
    if s.gold and "gold" not in out:
        out["gold"] = root / s.gold.format(lang=lang)
    return out


# --- Tatoeba ---------------------------------------------------------------------------

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


# --- BUCC ------------------------------------------------------------------------------

def _read_id_sentences(path: Path) -> tuple[list[str], list[str]]:
    ids, sents, seen = [], [], set()
    for i, line in enumerate(read_lines(path, "data file"), 1):
        cols = line.split("\t", 1)
        if len(cols) != 2 or not cols[0].strip():
            raise UserError("expected '<id><TAB><sentence>'", path, i)
        sid = submission.check_id(cols[0].strip(), "sentence id", path, i)
        if sid in seen:
            raise UserError(f"duplicate sentence id {submission.show(sid)}; expected each id once", path, i)
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
        pairs, lines = submission.read_id_pairs(gold_file, "gold file")
        for (xx, en), i in zip(pairs, lines):
            if xx not in sset or en not in tset:
                raise UserError(f"gold pair {submission.show(xx)} / {submission.show(en)} names a sentence id not "
                                "in the corpus files", gold_file, i)
        if not pairs:  # F1 against no gold would be a silent 0
            raise UserError(f"no gold pairs; expected {submission.PAIRS_EXPECTED} lines", gold_file)
    if limit is not None:
        src_ids, src = src_ids[:limit], src[:limit]
        if pairs is not None:
            keep = set(src_ids)
            pairs = [p for p in pairs if p[0] in keep]
    return RetrievalSet(lang=lang, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids,
                        gold_pairs=pairs)


# --- LAReQA ------------------------------------------------------------------------------

def _lareqa_language(path: Path, lang: str):
    """One XQuAD-R file as ``evaluate_retrieval.py`` and ``utils_lareqa.py`` read it.

    Yields (question id, question, answer sentence, candidates of its paragraph)
    per kept question; a candidate is (uid, sentence, context) with uid
    ``{lang}_{paragraph number, 1-based}_{sentence position}``. A question whose
    answer starts in no sentence span is skipped, as ``generate_examples`` does.
    """
    data, text = submission.load_json(path, "data file")
    show, kind = submission.show, submission.json_type

    def fail(message: str, *keys):
        raise UserError(message, path, submission.json_path_line(text, keys) if keys else 1)

    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        fail("expected XQuAD-R JSON: an object with a 'data' list of articles", *(("data",) if articles else ()))
    n_para = 0
    seen: set[str] = set()
    for a_i, article in enumerate(articles):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs", []), list):
            fail(f"article {a_i + 1} is not an object with a 'paragraphs' list; expected XQuAD-R's format", "data",
                 a_i)
        for p_i, para in enumerate(article.get("paragraphs", [])):
            at_p = ("data", a_i, "paragraphs", p_i)
            n_para += 1
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                fail(f"paragraph {n_para} lacks its 'context'", *at_p)
            context, breaks = para["context"], para.get("sentence_breaks")
            if not isinstance(breaks, list) or not all(
                    isinstance(b, list) and len(b) == 2 and all(type(x) is int for x in b) for b in breaks):
                raise UserError(f"paragraph {n_para} lacks 'sentence_breaks' (a list of [start, end] pairs); "
                                "expected XQuAD-R's format", path)
            for b_i, (s, e) in enumerate(breaks):
                if not 0 <= s <= e <= len(context):
                    fail(f"sentence break [{s}, {e}] of paragraph {n_para} lies outside its context of "
                         f"{len(context)} characters", *at_p, "sentence_breaks", b_i)
            sentences = [context[s:e] for s, e in breaks]
            cands = [(f"{lang}_{n_para}_{pos}", sent, context) for pos, sent in enumerate(sentences)]
            qas = para.get("qas", [])
            if not isinstance(qas, list):
                fail(f"the 'qas' of paragraph {n_para} are {kind(qas)}; expected a list of questions", *at_p, "qas")
            for q_i, qa in enumerate(qas):
                at_q = (*at_p, "qas", q_i)
                if not isinstance(qa, dict) or not isinstance(qa.get("id"), str) or not isinstance(
                        qa.get("question"), str):
                    fail("a question lacks a string 'id' or 'question'; expected both", *at_q)
                qid = qa["id"]
                if qid in seen:
                    fail(f"duplicate question id {show(qid)}; expected each id once", *at_q, "id")
                seen.add(qid)
                answers = qa.get("answers")
                if not isinstance(answers, list) or len(answers) != 1 or not isinstance(answers[0], dict) or \
                        type(answers[0].get("answer_start")) is not int:
                    fail(f"question {show(qid)} must have exactly one answer with an integer 'answer_start'",
                         *at_q, "id")
                start = answers[0]["answer_start"]
                sentence = next((context[s:e] for s, e in breaks if s <= start < e), None)
                if sentence:
                    yield qid, qa["question"], sentence, cands


def read_lareqa(paths, lang: str, limit: int | None = None) -> RankingSet:
    """Questions of ``lang`` against the pooled candidates of every language file present.

    A candidate is an answer sentence followed directly by its paragraph, new
    lines removed (``(sentence + context).replace("\\n", "")``); the relevant
    candidates of a question are the sentences equal to its answer sentence in
    the paragraph of that question id, in every language.
    """
    pool_files = {lang: paths["data"]}
    for key, p in paths.items():
        if key.startswith("pool:") and present(p):
            pool_files[key[5:]] = p
    cand_ids: list[str] = []
    cand_text: list[str] = []
    seen: set[str] = set()
    relevant: dict[str, list[str]] = {}
    queries: list[tuple[str, str]] = []
    for pool_lang in sorted(pool_files):
        for qid, question, answer, cands in _lareqa_language(pool_files[pool_lang], pool_lang):
            if pool_lang == lang:
                queries.append((qid, question))
            for uid, sent, context in cands:
                if uid not in seen:
                    seen.add(uid)
                    cand_ids.append(uid)
                    cand_text.append((sent + context).replace("\n", ""))
                if sent == answer:
                    relevant.setdefault(qid, []).append(uid)
    if not queries:
        raise UserError("no questions with an answer sentence; expected XQuAD-R JSON", paths["data"])
    if limit is not None:
        queries = queries[:limit]
    return RankingSet(lang=lang, query_ids=[q for q, _ in queries], queries=[t for _, t in queries],
                      candidate_ids=cand_ids, candidates=cand_text,
                      relevant=[relevant.get(q, []) for q, _ in queries])


# --- Mewsli-X ----------------------------------------------------------------------------

_BRACES = re.compile(r"\{(.*?)\}")


def _normalise(text: str) -> str:
    """``" ".join(text.splitlines()).replace("  ", " ").strip()``: one pass, so three spaces leave two."""
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def _spans(value, text: str, what: str, where: tuple[Path, int]) -> list[tuple[int, int]]:
    """A list of ``{"start": int, "end": int}`` spans that lie inside ``text``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{what} are {submission.json_type(value)}; expected a list of {{start, end}} objects",
                        *where)
    out = []
    for span in value:
        s = span.get("start") if isinstance(span, dict) else None
        e = span.get("end") if isinstance(span, dict) else None
        if type(s) is not int or type(e) is not int or not 0 <= s <= e <= len(text):
            raise UserError(f"{what} hold {submission.show(span)}; expected {{start, end}} integers inside the "
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
        raise UserError(f"mention {submission.show(text)} lies in no sentence span (or crosses one); Mewsli-X keeps "
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
        raise UserError(f"the entity's 'description' is {submission.json_type(desc)}; expected a string", *where)
    spans = _spans(entity.get("sentence_spans"), desc, "the entity's 'sentence_spans'", where)
    return _normalise(" ".join(desc[s:e] for s, e in spans))


def read_candidates(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for i, rec in submission.json_lines(path, "candidate file", "one entity object per line"):
        eid = rec.get("entity_id")
        if not isinstance(eid, str) or not eid:
            raise UserError("an entity lacks its 'entity_id'", path, i)
        submission.check_id(eid, "entity_id", path, i)
        if eid in seen:
            raise UserError(f"duplicate entity_id {submission.show(eid)}", path, i)
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
    for i, rec in submission.json_lines(paths["data"], "data file", "one Mewsli-X document object per line"):
        context = rec.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("text"), str):
            raise UserError("a line lacks its 'context' with 'text' and 'sentence_spans'", paths["data"], i)
        mentions = rec.get("mentions") or []
        if not isinstance(mentions, list):
            raise UserError(f"'mentions' are {submission.json_type(mentions)}; expected a list of mention objects",
                            paths["data"], i)
        for m in mentions:
            if not isinstance(m, dict) or not isinstance(m.get("example_id"), str) or not m["example_id"]:
                raise UserError("a mention lacks its 'example_id'", paths["data"], i)
            if m["example_id"] in seen:
                raise UserError(f"duplicate example_id {submission.show(m['example_id'])}; expected each mention "
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
                raise UserError(f"example {submission.show(missing)} has no gold entity but others do", gold)
            relevant = golds
    return RankingSet(lang=lang, query_ids=qids, queries=queries, candidate_ids=cand_ids, candidates=cand_text,
                      relevant=relevant)


RANKING_EXPECTED = "a JSON object mapping each query id to a list of candidate id strings"


def read_ranking_json(path: str, what: str) -> dict[str, list[str]]:
    """``{query id: [candidate ids, best first]}`` (predictions) or ``{query id: [relevant ids]}`` (labels)."""
    data, text = submission.load_json(path, what, key="query id")
    keys: tuple = ()
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data, keys = data["data"], ("data",)  # evaluate.py's read_squad unwraps a top-level 'data' key
    if not isinstance(data, dict):
        raise UserError(f"found {submission.json_type(data)}; expected {RANKING_EXPECTED}", path, 1)
    for qid, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise UserError(f"the entry of {submission.show(qid)} must be a list of candidate id strings", path,
                            submission.json_path_line(text, (*keys, qid)))
        for k, x in enumerate((qid, *ids)):
            if submission.has_foreign_digit(x):
                raise UserError(f"id {submission.show(x)} holds a non-ASCII digit; expected ids written with ASCII "
                                "digits (they are compared as text)", path,
                                submission.json_path_line(text, (*keys, qid, k - 1) if k else (*keys, qid)))
    return data


def _entry_line(path: str, qid: str) -> int | None:
    """The line of a query's entry in a ranking file (under its 'data' key where it has one)."""
    from ..data.io import read_text

    text = read_text(path)
    data = submission.load_json_text(text, path)
    wrapped = isinstance(data, dict) and isinstance(data.get("data"), dict)
    return submission.json_path_line(text, ("data", qid) if wrapped else (qid,))


# --- the family ----------------------------------------------------------------------------

@register
class Retrieval(Family):
    name = "retrieval"
    head = None
    auto_class = "AutoModel"
    formats = ("tatoeba", "bucc", "lareqa", "mewslix")
    submissions = ("indices", "pairs", "ranking_json")
    # search: how BUCC's margin k-NN is searched (mining.SEARCHES); only "exact" is the official protocol
    defaults = {"max_length": 512, "pooling": "mean", "k": 20, "search": "exact"}
    protocol_schema = (
        {"method": (str, True), "queries": (str, False), "threshold_split": (str, False), "pool": (str, False),
         "query_max_length": (int, False), "candidate_max_length": (int, False)},
        {"method": ("nearest", "margin", "ranking"), "queries": ("en", "xx"), "threshold_split": ("dev", "test"),
         "pool": ("languages", "file")})

    def files(self, spec, root, lang, split):
        return split_files(spec, root, lang, split)

    def read(self, spec, paths, lang, limit):
        reader = {"tatoeba": read_tatoeba, "bucc": read_bucc, "lareqa": read_lareqa, "mewslix": read_mewslix}
        return reader[spec.format](paths, lang, limit)

    def read_hf(self, spec, ds, lang, limit, where):
        cols = spec.hf.columns
        src = [row[cols["source"]] for row in ds]
        tgt = [row[cols["target"]] for row in ds]
        if spec.retrieval.get("method") == "nearest":
            # XTREME's utils_preprocess.py (tatoeba_preprocess) strips and sorts the English side; the gold of
            # sorted line j is the original index of that line, i.e. the non-English line it translates.
            tgt = [t.strip() for t in tgt]
            order = sorted(range(len(tgt)), key=lambda i: tgt[i])
            target = [tgt[i] for i in order]
            queries = len(target) if limit is None else min(limit, len(target))
            return RetrievalSet(lang=lang, source=src, target=target, gold=order[:queries], queries=queries)
        if spec.retrieval.get("method") != "margin":
            raise UserError(f"task {spec.task} cannot be read from the hub")
        src_ids = [f"{lang}-{i:09d}" for i in range(len(src))]
        tgt_ids = [f"en-{i:09d}" for i in range(len(tgt))]
        pairs = list(zip(src_ids, tgt_ids))
        if limit is not None:
            src_ids, src, pairs = src_ids[:limit], src[:limit], pairs[:limit]
        return RetrievalSet(lang=lang, source=src, target=tgt, source_ids=src_ids, target_ids=tgt_ids,
                            gold_pairs=pairs)

    def count(self, examples):
        return examples.n

    def settings(self, spec, overrides=None):
        """``max_length`` caps every text; LAReQA and Mewsli-X have their own query and candidate lengths,
        which ``--max-length`` replaces."""
        settings = super().settings(spec, overrides)
        if settings["search"] not in mining.SEARCHES:
            raise UserError(f"task {spec.task}: search must be {' or '.join(mining.SEARCHES)}, not "
                            f"{settings['search']!r}")
        cap = (overrides or {}).get("max_length")
        for key in ("query_max_length", "candidate_max_length"):
            settings.values[key] = cap if cap is not None else spec.retrieval.get(key, settings["max_length"])
        return settings

    def gold(self, spec, examples):
        method = spec.retrieval.get("method")
        if method == "nearest":
            return [str(g) for g in examples.gold] if examples.gold is not None else None
        if method == "margin":
            return [f"{s}\t{t}" for s, t in examples.gold_pairs] if examples.gold_pairs else None
        if examples.relevant is None:
            return None
        return {q: list(r) for q, r in zip(examples.query_ids, examples.relevant)}

    # --- prediction ---------------------------------------------------------------------
    def predict(self, spec, examples, model, tokenizer, engine, settings, labels=None, call=None, lang="",
                embedder=None, **context):
        method = spec.retrieval.get("method")
        stats: dict[str, Any] = {"layer": embedder.layer, "pooling": embedder.pooling}
        if method == "ranking":
            return self._rank(spec, examples, embedder, settings, lang, stats)
        src = embedder(examples.source, settings["max_length"], f"{spec.task}/{lang} ({lang})")
        tgt = embedder(examples.target, settings["max_length"], f"{spec.task}/{lang} (en)")
        stats.update(source=len(examples.source), target=len(examples.target))
        if method == "nearest":
            return self._nearest(spec, examples, src, tgt, lang, stats)
        return self._mine(spec, examples, src, tgt, embedder, settings, lang, stats, **context)

    def _nearest(self, spec, rset, src, tgt, lang, stats):
        n = rset.n
        if spec.retrieval.get("queries", "en") == "en":  # XTREME: English queries, non-English index
            pred = [str(int(i)) for i in mining.tatoeba_predict(src, tgt[:n])]
        else:
            pred = [str(int(i)) for i in mining.tatoeba_predict(tgt, src[:n])]
        figures = {}
        if rset.gold is not None:
            both = mining.tatoeba_accuracy_both(src, tgt, rset.gold)
            # Secondary figures: the reverse direction (non-English queries) and the mean of both.
            figures = {"accuracy_xx2en": float(both["xx2en"]), "accuracy_mean": float(both["mean"])}
        return Predictions(spec.task, lang, rset, pred, stats, figures)

    def _mine(self, spec, rset, src, tgt, embedder, settings, lang, stats, data_dir=None, split=None, **_):
        from ..data.readers import available, read_split

        search = settings.get("search", "exact")  # the margin k-NN of both the mined split and the threshold split
        cands = mining.mine_candidates(src, tgt, rset.source_ids, rset.target_ids, rset.source, rset.target,
                                       search=search)
        threshold, source = None, None
        tsplit = spec.retrieval.get("threshold_split", "dev")
        if split != tsplit and tsplit in spec.splits and data_dir is not None and available(spec, data_dir, lang,
                                                                                             tsplit):
            dev = read_split(spec, data_dir, lang, tsplit)
            if dev.gold_pairs:
                d_src = embedder(dev.source, settings["max_length"], f"{spec.task}/{lang} {tsplit} ({lang})")
                d_tgt = embedder(dev.target, settings["max_length"], f"{spec.task}/{lang} {tsplit} (en)")
                d_cands = mining.mine_candidates(d_src, d_tgt, dev.source_ids, dev.target_ids, dev.source,
                                                 dev.target, search=search)
                threshold = mining.best_threshold(d_cands, dev.gold_pairs)[0]
                source = tsplit
        if threshold is None:
            if not rset.gold_pairs:
                raise UserError(f"{spec.task}/{lang}: no {tsplit} gold to choose the mining threshold on")
            threshold = mining.best_threshold(cands, rset.gold_pairs)[0]
            source = split if split == tsplit else f"{split} (oracle: no {tsplit} set)"
        pairs = mining.apply_threshold(cands, threshold)
        stats.update(threshold=float(threshold), threshold_from=source, candidates=len(cands))
        if search != "exact":  # not the official protocol: say so beside the figures
            stats["search"] = search
        return Predictions(spec.task, lang, rset, [f"{s}\t{t}" for s, t in pairs], stats)

    def _rank(self, spec, rset, embedder, settings, lang, stats):
        k = int(settings["k"])
        q = embedder(rset.queries, settings["query_max_length"], f"{spec.task}/{lang} queries")
        c = embedder(rset.candidates, settings["candidate_max_length"], f"{spec.task} candidates")
        _, idx = mining.knn(mining.normalize(q), mining.normalize(c), k)
        ids = rset.candidate_ids
        output = {qid: [ids[j] for j in row if j >= 0] for qid, row in zip(rset.query_ids, idx.tolist())}
        stats.update(queries=len(rset.queries), candidates=len(rset.candidates), k=k)
        return Predictions(spec.task, lang, rset, output, stats)

    # --- scoring ------------------------------------------------------------------------
    def records(self, spec, predictions, gold):
        method = spec.retrieval.get("method")
        lang = predictions.lang
        if method == "nearest":
            preds = predictions.output
            if gold is None:
                return [{"id": f"{lang}-{j}", "pred": p} for j, p in enumerate(preds)]
            return [{"id": f"{lang}-{j}", "pred": p, "gold": g, "correct": int(p == g)}
                    for j, (p, g) in enumerate(zip(preds, gold))]
        if method == "ranking":
            from ..metrics.retrieval import average_precision

            out = []
            k = int(spec.features.get("k", self.defaults["k"]))
            for qid, ranked in predictions.output.items():
                rec: dict[str, Any] = {"id": qid, "pred": ranked}
                if gold is not None:
                    rel = gold[qid]
                    rec.update(gold=rel, ap=average_precision(rel, ranked, k, first_only=self._first_only(spec)))
                out.append(rec)
            return out
        return []  # BUCC: a corpus-level metric with no per-example records

    @staticmethod
    def _first_only(spec) -> bool:
        return spec.metrics.official == "mewslix_map20"

    def record_kind(self, spec):
        method = spec.retrieval.get("method")
        return {"nearest": "accuracy", "ranking": "ap"}.get(method)

    def write_output(self, spec, path, output):
        if spec.submission_format == "ranking_json":
            from ..data.io import atomic_write_json

            atomic_write_json(path, output, indent=None)
        else:
            submission.write(path, spec.submission_format, output)

    def write_gold(self, spec, path, gold, examples):
        self.write_output(spec, path, gold)

    def read_pair(self, spec, pred_path, label_path):
        fmt = spec.submission_format
        if fmt == "indices":
            labels = submission.not_empty(read_indices(label_path, "labels file"), label_path,
                                          "one 0-based line index per line")
            preds = read_indices(pred_path, "prediction file")
            submission.same_length(pred_path, label_path, len(preds), len(labels), "lines")
            return labels, preds
        if fmt == "pairs":
            labels = submission.not_empty(submission.read_pairs(label_path, "labels file"), label_path,
                                          "'<xx-id><TAB><en-id>' lines")
            return labels, submission.read_pairs(pred_path, "prediction file")
        labels = read_ranking_json(label_path, "labels file")
        if not labels:
            raise UserError("labels file has no gold labels; expected {query id: [relevant ids]}", label_path)
        blank = next((q for q, rel in labels.items() if not any(r.strip() for r in rel)), None)
        if blank is not None:  # a query without gold would score 0 (or divide by zero) without a word
            raise UserError(f"query {submission.show(blank)} has no gold id (an empty or blanked list, as XTREME-R's "
                            "preprocessing leaves test labels); expected {query id: [relevant ids]}", label_path,
                            _entry_line(label_path, blank))
        preds = read_ranking_json(pred_path, "prediction file")
        unknown = [q for q in preds if q not in labels]
        if unknown:
            raise UserError(f"query id {submission.show(unknown[0])} is not in the labels file {label_path}"
                            f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}", pred_path,
                            _entry_line(pred_path, unknown[0]))
        return labels, preds

    def read_output(self, spec, path):
        fmt = spec.submission_format
        if fmt == "indices":
            return len(read_indices(path, "prediction file"))
        if fmt == "pairs":
            submission.read_pairs(path, "prediction file")
            return None
        return len(read_ranking_json(path, "prediction file"))
