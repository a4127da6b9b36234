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
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .examples import Answer, PairExample, QAExample, TaggingExample
from .io import json_line, read_json, read_lines, read_text
from .submission import read_label_lines, read_tag_sentences

if TYPE_CHECKING:
    from ..spec import TaskSpec


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
    return split in spec.splits and all(p.is_file() for p in required_files(spec, data_dir, lang, split))


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

def read_pairs_tsv(path: Path, labels: tuple[str, ...] | None, gold: Path | None, limit: int | None = None,
                   lang: str = "") -> list[PairExample]:
    """``text_a<TAB>text_b[<TAB>label]`` rows as Python's csv module writes them (XTREME's files are)."""
    text = read_text(path, "data file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    rows, lines = [], []
    try:
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(f"malformed TSV: {exc}", path, reader.line_num) from None
    if not rows:  # an empty file would otherwise score as an empty, silently partial language
        raise UserError("no examples; expected rows 'text_a<TAB>text_b[<TAB>label]'", path)
    examples = []
    allowed = set(labels or ())
    for k, (row, line) in enumerate(zip(rows, lines)):
        if len(row) not in (2, 3):
            raise UserError(f"expected 2 or 3 tab-separated columns (text_a, text_b[, label]), found {len(row)}",
                            path, line)
        label = row[2].strip() if len(row) == 3 else None
        if label is not None and allowed and label not in allowed:
            raise UserError(f"label '{label}' is not in the label set ({', '.join(labels)})", path, line)
        examples.append(PairExample(id=f"{lang}-{k}", text_a=row[0], text_b=row[1], label=label))
    if examples and all(ex.label is None for ex in examples) and gold is not None and gold.is_file():
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
        cols = line.split("\t")
        if len(cols) > 2:
            raise UserError(f"expected 'word<TAB>tag' or 'word', found {len(cols)} columns", path, i)
        word = cols[0]
        if not word.strip():
            raise UserError("empty word", path, i)
        tag = cols[1].strip() if len(cols) == 2 else None
        if tag is not None and allowed and tag not in allowed:
            raise UserError(f"tag '{tag}' is not in the tag set ({', '.join(labels)})", path, i)
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
    if examples and all(ex.tags is None for ex in examples) and gold is not None and gold.is_file():
        gold_sents, starts = read_tag_sentences(str(gold), labels, "labels file")
        starts = [st for st, s in zip(starts, gold_sents) if s]
        gold_sents = [s for s in gold_sents if s]
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

def read_squad(path: Path, limit: int | None = None) -> list[QAExample]:
    """SQuAD v1.1 JSON; every answer offset is checked against its context."""
    data = read_json(path, "data file")
    articles = data.get("data") if isinstance(data, dict) else None
    text_cache: list[str] = []

    def line_of(needle: str, nth: int = 1) -> int | None:
        if not text_cache:
            text_cache.append(read_text(path))
        return json_line(text_cache[0], needle, nth)

    def line_of_value(value, fallback: str) -> int | None:
        """The line of a string value as the file spells it (raw or \\u-escaped), else of ``fallback``."""
        if isinstance(value, str) and value:
            for needle in (json.dumps(value, ensure_ascii=False), json.dumps(value)):
                line = line_of(needle)
                if line is not None:
                    return line
        return line_of(fallback)

    if not isinstance(articles, list):
        raise UserError("expected SQuAD JSON: an object with a 'data' list of articles", path, 1)
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a_i, article in enumerate(articles):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise UserError(f"article {a_i} lacks its 'paragraphs' list", path, line_of('"paragraphs"'))
        title = str(article.get("title", ""))
        for para in article["paragraphs"]:
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) or not isinstance(
                    para.get("qas"), list):
                qas = para.get("qas") if isinstance(para, dict) else None
                first = qas[0] if isinstance(qas, list) and qas and isinstance(qas[0], dict) else {}
                raise UserError(f"a paragraph of article {a_i} lacks 'context' or 'qas'", path,
                                line_of_value(first.get("id"), '"qas"'))
            context = para["context"]
            for qa in para["qas"]:
                if not isinstance(qa, dict) or "id" not in qa or not isinstance(qa.get("question"), str):
                    known = (qa.get("id") if "id" in qa else qa.get("question")) if isinstance(qa, dict) else None
                    raise UserError("a question lacks 'id' or 'question'", path, line_of_value(known, '"question"'))
                qid = str(qa["id"])
                if qid in seen:
                    raise UserError(f"duplicate question id '{qid}'; expected each id once", path,
                                    line_of(f'"{qid}"', 2) or line_of(f'"{qid}"'))
                seen.add(qid)
                answers = []
                for ans in qa.get("answers") or []:
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str) or not isinstance(
                            ans.get("answer_start"), int):
                        raise UserError(f"an answer of question '{qid}' lacks 'text' or an integer 'answer_start'",
                                        path, line_of(f'"{qid}"'))
                    start, atext = ans["answer_start"], ans["text"]
                    if start < 0 or context[start:start + len(atext)] != atext:
                        raise UserError(
                            f"answer_start {start} of question '{qid}' does not point at its answer text "
                            f"'{atext[:40]}' in the context", path, line_of(f'"{qid}"'))
                    answers.append(Answer(text=atext, start=start))
                examples.append(QAExample(id=qid, question=qa["question"], context=context, answers=answers,
                                          title=title))
                if limit is not None and len(examples) >= limit:
                    return examples
    if not examples:
        raise UserError("no questions; expected SQuAD JSON with at least one question", path)
    return examples
