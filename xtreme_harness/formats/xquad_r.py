"""XQuAD-R JSON (LAReQA): questions with sentence-split paragraphs, pooled across languages as candidates."""

from __future__ import annotations

from pathlib import Path

from ..io.errors import UserError
from ..io.files import present
from ..io.jsonfile import json_path_line, load_json
from ..io.messages import json_type, show
from .examples import RankingSet


def _lareqa_language(path: Path, lang: str):
    """One XQuAD-R file as ``evaluate_retrieval.py`` and ``utils_lareqa.py`` read it.

    Yields (question id, question, answer sentence, candidates of its paragraph)
    per kept question; a candidate is (uid, sentence, context) with uid
    ``{lang}_{paragraph number, 1-based}_{sentence position}``. A question whose
    answer starts in no sentence span is skipped, as ``generate_examples`` does.
    """
    data, text = load_json(path, "data file")
    kind = json_type

    def fail(message: str, *keys):
        raise UserError(message, path, json_path_line(text, keys) if keys else 1)

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
