"""SQuAD v1.1 JSON: XTREME's QA data and labels files, and the ``{question id: answer}`` predictions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

from ..io.errors import UserError
from ..io.files import atomic_write_json
from ..io.jsonfile import json_path_line, load_json
from ..io.messages import json_type, show
from .examples import Answer, QAExample


def read_squad(path: Path | str, limit: int | None = None, what: str = "data file", labels: bool = False,
               all_or_none: bool = False) -> list[QAExample]:
    """SQuAD v1.1 JSON, every field's type checked and every problem placed on its line.

    The one reader of the format: ``xtreme-eval``'s data files and
    ``xtreme-score``'s labels files. A data file (``labels=False``) needs each
    paragraph's context and each question's text; answers may be absent (a
    test file without gold; ``all_or_none`` refuses a file where only some
    questions have answers) and each answer needs an integer ``answer_start``
    that points at its text. A labels file needs only what the official scorer
    reads, ids and answer texts, with at least one answer per question.
    Whatever else is present is checked the same way in both, so the same file
    gets the same verdict from both commands.
    """
    path = str(path)
    data, text = load_json(path, what)

    def fail(message: str, *keys) -> NoReturn:
        raise UserError(message, path, json_path_line(text, keys) if keys else 1)

    if isinstance(data, dict) and "data" in data:
        articles, base = data["data"], ("data",)
    elif isinstance(data, list) and labels:  # evaluate.py's read_squad takes a bare list of articles
        articles, base = data, ()
    else:
        articles, base = None, ()
    if not isinstance(articles, list):
        got = f" ('data' is {json_type(articles)})" if isinstance(data, dict) and "data" in data else ""
        fail(f"expected SQuAD JSON: an object with a 'data' list of articles{got}", *base)
    examples: list[QAExample] = []
    where: list[tuple] = []  # the JSON path of each question, to place a later error on its line
    seen: set[str] = set()
    for a_i, article in enumerate(articles):
        at_a = (*base, a_i)
        if not isinstance(article, dict):
            fail(f"article {a_i + 1} is {json_type(article)}; expected an object with a 'paragraphs' list", *at_a)
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list):
            got = f" ('paragraphs' is {json_type(paragraphs)})" if "paragraphs" in article else ""
            fail(f"article {a_i + 1} lacks its 'paragraphs' list{got}", *at_a, "paragraphs")
        title = article.get("title")
        if title is not None and not isinstance(title, str):
            fail(f"the 'title' of article {a_i + 1} is {json_type(title)}; expected a string", *at_a, "title")
        for p_i, para in enumerate(paragraphs):
            at_p = (*at_a, "paragraphs", p_i)
            if not isinstance(para, dict):
                fail(f"paragraph {p_i + 1} of article {a_i + 1} is {json_type(para)}; expected an object with "
                     "'context' and 'qas'", *at_p)
            context, qas = para.get("context"), para.get("qas")
            context_ok = isinstance(context, str) or (labels and "context" not in para)
            if not context_ok or not isinstance(qas, list):
                bad = [f"'{k}' is {json_type(para[k])}" for k, ok in (("context", isinstance(context, str)),
                                                                      ("qas", isinstance(qas, list)))
                       if k in para and not ok]
                first = qas[0] if isinstance(qas, list) and qas and isinstance(qas[0], dict) else {}
                wrong = "context" if "context" in para and not isinstance(context, str) else \
                    "qas" if "qas" in para and not isinstance(qas, list) else None
                # the wrong value, else the paragraph's first question (the paragraph's own line says little)
                at_bad = ((*at_p, wrong) if wrong else (*at_p, "qas", 0, "id") if "id" in first
                          else (*at_p, next(iter(para), None)))
                fail(f"a paragraph of article {a_i + 1} lacks 'context' or 'qas'"
                     f"{' (' + ', '.join(bad) + ')' if bad else ''}; expected a 'context' string and a 'qas' list",
                     *at_bad)
            for q_i, qa in enumerate(qas):
                at_q = (*at_p, "qas", q_i)
                if not isinstance(qa, dict):
                    fail(f"question {q_i + 1} of a paragraph of article {a_i + 1} is {json_type(qa)}; expected an "
                         "object with 'id', 'question' and 'answers'", *at_q)
                known = "id" if "id" in qa else "question" if "question" in qa else next(iter(qa), None)
                if "id" not in qa or (not labels and not isinstance(qa.get("question"), str)):
                    if labels:
                        fail("a question lacks its 'id'; expected an 'id' for every question", *at_q, known)
                    fail("a question lacks 'id' or 'question'; expected both for every question", *at_q, known)
                qid = qa["id"]
                if not isinstance(qid, str) or not qid:
                    fail(f"question id {show(qid)} must be a non-empty string", *at_q, "id")
                if "question" in qa and not isinstance(qa["question"], str):
                    fail(f"the 'question' of question {show(qid)} is {json_type(qa['question'])}; expected a string",
                         *at_q, "question")
                if qid in seen:
                    fail(f"duplicate question id {show(qid)}; expected each id once", *at_q, "id")
                seen.add(qid)
                answers = qa.get("answers")
                if labels and (not isinstance(answers, list) or not answers):
                    got = f" ('answers' is {json_type(answers)})" if "answers" in qa and answers != [] else ""
                    fail(f"question {show(qid)} has no gold 'answers'{got}; expected a list of objects with a "
                         "'text'", *at_q, "answers" if got else "id")
                if answers is None:
                    answers = []
                if not isinstance(answers, list):
                    fail(f"the 'answers' of question {show(qid)} are {json_type(answers)}; expected a list of objects "
                         "with 'text' and 'answer_start'", *at_q, "answers")
                parsed = []
                for ans in answers:
                    atext = ans.get("text") if isinstance(ans, dict) else None
                    start = ans.get("answer_start") if isinstance(ans, dict) else None
                    if labels and not isinstance(atext, str):
                        fail(f"an answer of question {show(qid)} lacks its 'text'", *at_q, "id")
                    if labels and start is None:
                        parsed.append(Answer(text=atext, start=-1))
                        continue
                    if not isinstance(atext, str) or type(start) is not int:
                        fail(f"an answer of question {show(qid)} lacks 'text' or an integer 'answer_start'", *at_q,
                             "id")
                    if start < 0 or (isinstance(context, str) and context[start:start + len(atext)] != atext):
                        fail(f"answer_start {start} of question {show(qid)} does not point at its answer text "
                             f"{show(atext, 40)} in the context", *at_q, "id")
                    parsed.append(Answer(text=atext, start=start))
                examples.append(QAExample(id=qid, question=qa.get("question") or "", context=context or "",
                                          answers=parsed, title=title or ""))
                where.append((*at_q, "id"))
                if limit is not None and len(examples) >= limit:
                    break
            if limit is not None and len(examples) >= limit:
                break
        if limit is not None and len(examples) >= limit:
            break
    if not examples and not labels:
        raise UserError("no questions; expected SQuAD JSON with at least one question", path)
    if all_or_none and any(ex.answers for ex in examples) and not all(ex.answers for ex in examples):
        # gold is per file: a few unanswered questions would silently leave the whole language unscored
        k = next(k for k, ex in enumerate(examples) if not ex.answers)
        fail(f"question {show(examples[k].id)} has no answers but others do; expected gold answers for every "
             "question or for none", *where[k])
    return examples


def read_qa_predictions(path: str) -> dict[str, str]:
    """``{question id: answer text}``; a repeated id or an answer that is not a string stops with its line."""
    data, text = load_json(path, "prediction file", key="question id")
    if not isinstance(data, dict):
        raise UserError(f"found {json_type(data)}; expected a JSON object mapping question id to answer text",
                        path, 1)
    for qid, ans in data.items():
        if not isinstance(ans, str):
            raise UserError(f"answer for question {show(qid)} must be a string, got {json_type(ans)}", path,
                            json_path_line(text, [qid]))
    return data


def read_qa_gold(path: str) -> list[tuple[str, list[str]]]:
    """(question id, gold answer texts) in file order, from SQuAD v1.1 JSON (the reader ``xtreme-eval`` uses)."""
    return [(ex.id, [a.text for a in ex.answers]) for ex in read_squad(path, what="labels file", labels=True)]


def write_qa(path: str | os.PathLike, answers: dict[str, str]) -> None:
    atomic_write_json(path, answers)
