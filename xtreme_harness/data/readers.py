"""Readers for the XTREME download layout: shared file formats, each returning typed examples.

``read_split(spec, data_dir, lang, split)`` is the one entry point: the task's
family names the files of a split and reads them (the formats below are shared
by several families and by the trainer's intermediate tasks; formats only one
family reads live in that family's module). ``data_dir`` is a folder in
XTREME's layout, or ``hf`` / ``hf:<local copy of a hub dataset>`` to read the
same task through ``datasets.load_dataset``. Gold labels that a file lacks
(XTREME strips test labels) come from the spec's ``gold`` file when it exists.
Every problem is a :class:`UserError` that names the file and the line.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import UserError, clip
from .examples import Answer, PairExample, QAExample, TaggingExample
from .io import read_lines, read_text
from .submission import (json_path_line, json_type, listing, load_json, non_empty, read_label_lines, read_tag_gold,
                         show)

if TYPE_CHECKING:
    from ..spec import TaskSpec


def present(path: os.PathLike | str | None) -> bool:
    """Whether a file the user named is there at all: a FIFO, a folder or a dangling link counts, so that
    reading it says what is wrong with it instead of skipping it silently."""
    return path is not None and os.path.lexists(path)


def _is_hf(data_dir) -> bool:
    return str(data_dir) == "hf" or str(data_dir).startswith("hf:")


def split_files(spec: TaskSpec, data_dir: str | os.PathLike, lang: str, split: str) -> dict[str, Path]:
    """Every file one (task, language, split) reads, by role ('data' first; 'gold' and 'pool:*' may be absent)."""
    from ..families import family_of

    if split not in spec.splits:
        raise UserError(f"task {spec.task} has no '{split}' split (it has: {', '.join(spec.splits)})")
    return family_of(spec).files(spec, Path(data_dir), lang, split)


def required_files(spec: TaskSpec, data_dir: str | os.PathLike, lang: str, split: str) -> list[Path]:
    """The files that must exist; used to tell 'missing' from 'present'."""
    return [p for role, p in split_files(spec, data_dir, lang, split).items()
            if role != "gold" and not role.startswith("pool:")]


def available(spec: TaskSpec, data_dir: str | os.PathLike, lang: str, split: str) -> bool:
    if _is_hf(data_dir):
        return True
    return split in spec.splits and all(present(p) for p in required_files(spec, data_dir, lang, split))


def read_split(spec: TaskSpec, data_dir: str | os.PathLike, lang: str, split: str, limit: int | None = None) -> Any:
    """Examples of one task, language and split, with gold labels where any are known."""
    from ..families import family_of

    if _is_hf(data_dir):
        from .hf import read_hf

        return read_hf(spec, str(data_dir)[3:] or None, lang, split, limit)
    if split in spec.splits and spec.splits[split].languages and lang not in spec.splits[split].languages:
        raise UserError(f"task {spec.task} has a '{split}' split only for {', '.join(spec.splits[split].languages)}")
    return family_of(spec).read(spec, split_files(spec, data_dir, lang, split), lang, limit)


# --- classification ------------------------------------------------------------------

_MANY_TABS = re.compile(r"^[^\n]*?(?:\t[^\n\t]*){3}\t", re.MULTILINE)


def read_pairs_tsv(path: Path, labels: tuple[str, ...] | None, gold: Path | None, limit: int | None = None,
                   lang: str = "") -> list[PairExample]:
    """``text_a<TAB>text_b[<TAB>label]`` rows as Python's csv module writes them (XTREME's files are)."""
    text = read_text(path, "data file")
    if '"' not in text:  # no quoting: a row is a line, so a line of a million tabs is refused before csv splits it
        many = _MANY_TABS.search(text)
        if many:
            end = text.find("\n", many.start())
            n = text.count("\t", many.start(), end if end >= 0 else len(text)) + 1
            raise UserError(f"expected 2 or 3 tab-separated columns (text_a, text_b[, label]), found {n}", path,
                            text.count("\n", 0, many.start()) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    rows, lines = [], []
    try:
        for row in reader:
            if len(row) not in (2, 3):
                raise UserError(f"expected 2 or 3 tab-separated columns (text_a, text_b[, label]), found {len(row)}",
                                path, reader.line_num)
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(f"malformed TSV: {clip(str(exc), 200)}", path, reader.line_num) from None
    if not rows:  # an empty file would otherwise score as an empty, silently partial language
        raise UserError("no examples; expected rows 'text_a<TAB>text_b[<TAB>label]'", path)
    examples = []
    allowed = set(labels or ())
    for k, (row, line) in enumerate(zip(rows, lines)):
        label = row[2].strip() if len(row) == 3 else None
        if label is not None and allowed and label not in allowed:
            raise UserError(f"label {show(label)} is not in the label set ({listing(labels)})", path, line)
        examples.append(PairExample(id=f"{lang}-{k}", text_a=row[0], text_b=row[1], label=label))
    if examples and all(ex.label is None for ex in examples) and present(gold):
        gold_labels = read_label_lines(str(gold), labels, "labels file")
        if len(gold_labels) != len(examples):
            raise UserError(f"{len(gold_labels)} labels for {len(examples)} examples in {path}", gold,
                            min(len(gold_labels), len(examples)) + 1)
        for ex, lab in zip(examples, gold_labels):
            ex.label = lab
    elif any(ex.label is None for ex in examples) and any(ex.label is not None for ex in examples):
        first = next(i for i, ex in enumerate(examples) if ex.label is None)
        raise UserError("some rows have a label and some don't; expected all or none", path, lines[first])
    return examples[:limit] if limit is not None else examples


# --- tagging -------------------------------------------------------------------------

def read_conll(path: Path, labels: tuple[str, ...] | None, gold: Path | None, limit: int | None = None,
               lang: str = "") -> list[TaggingExample]:
    """``word<TAB>tag`` (or ``word`` alone in test files) per line, a blank line between sentences."""
    allowed = set(labels or ())
    sentences: list[tuple[list[str], list[str | None], list[int]]] = []
    words: list[str] = []
    tags: list[str | None] = []
    word_lines: list[int] = []
    for i, line in enumerate(read_lines(path, "data file"), 1):
        if not line.strip():
            if words:
                sentences.append((words, tags, word_lines))
            words, tags, word_lines = [], [], []
            continue
        n_tabs = line.count("\t")
        if n_tabs > 1:
            raise UserError(f"expected 'word<TAB>tag' or 'word', found {n_tabs + 1} columns", path, i)
        cols = line.split("\t")
        word = cols[0]
        if not word.strip():
            raise UserError("empty word", path, i)
        tag = cols[1].strip() if len(cols) == 2 else None
        if tag is not None and allowed and tag not in allowed:
            raise UserError(f"tag {show(tag)} is not in the tag set ({listing(labels)})", path, i)
        words.append(word)
        tags.append(tag)
        word_lines.append(i)
    if words:
        sentences.append((words, tags, word_lines))
    if not sentences:
        raise UserError("no sentences; expected 'word<TAB>tag' lines with a blank line between sentences", path)

    examples = []
    for k, (ws, ts, wl) in enumerate(sentences):
        have = [t is not None for t in ts]
        if any(have) and not all(have):
            odd = next(j for j, h in enumerate(have) if h != have[0])  # the first word unlike the first one
            raise UserError("some words of this sentence have a tag and some don't; expected 'word<TAB>tag' on "
                            "every line, or 'word' alone on every line", path, wl[odd])
        examples.append(TaggingExample(id=f"{lang}-{k}", tokens=ws, tags=list(ts) if all(have) else None))
    if examples and all(ex.tags is None for ex in examples) and present(gold):
        gold_sents, starts = non_empty(*read_tag_gold(str(gold), labels, "labels file"))
        if len(gold_sents) != len(examples):
            line = starts[len(examples)] if len(gold_sents) > len(examples) else None
            raise UserError(f"{len(gold_sents)} gold sentences for {len(examples)} sentences in {path}", gold, line)
        for k, (ex, g) in enumerate(zip(examples, gold_sents)):
            if len(g) != len(ex.tokens):
                raise UserError(f"sentence {k + 1} has {len(g)} gold tags for {len(ex.tokens)} words in {path}", gold,
                                starts[k])
            ex.tags = list(g)
    return examples[:limit] if limit is not None else examples


# --- QA ----------------------------------------------------------------------------------

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
