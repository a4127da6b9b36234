"""The official submission and label file formats: read them strictly, write them exactly.

Formats (``submission.format`` in a task spec) that several families share:
  labels   one label per line (XNLI, PAWS-X)
  tags     one tag per token, a blank line after each sentence (UD-POS, PAN-X)
  indices  one 0-based integer per line (Tatoeba)
  pairs    ``<xx-id>\\t<en-id>`` per line (BUCC)
  qa_json  predictions: {question id: answer text}; labels: SQuAD v1.1 JSON
Formats only one family writes live in that family's module.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ..errors import UserError
from .io import atomic_write_json, atomic_write_text, json_line, read_json, read_lines, read_text


def read_label_lines(path: str, allowed: Sequence[str] | None = None, what: str = "file") -> list[str]:
    out = []
    allowed_set = set(allowed) if allowed else None
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not value:
            raise UserError("empty line; expected one label per line", path, i)
        if allowed_set is not None and value not in allowed_set:
            raise UserError(f"label '{value}' is not in the label set ({', '.join(allowed)})", path, i)
        out.append(value)
    return out


def read_tag_sentences(path: str, allowed: Sequence[str] | None = None, what: str = "file") -> tuple[list[list[str]], list[int]]:
    """Sentences of tags as the official ``read_tag`` splits them, and each sentence's first line number.

    Like the official reader, every blank line closes a sentence (so two blank
    lines in a row make an empty sentence) and a last sentence without a
    trailing blank line still counts.
    """
    allowed_set = set(allowed) if allowed else None
    sentences: list[list[str]] = []
    starts: list[int] = []
    current: list[str] = []
    start = 1
    for i, line in enumerate(read_lines(path, what), 1):
        tag = line.strip()
        if tag:
            if not current:
                start = i
            if "\t" in tag or " " in tag:
                raise UserError(f"expected one tag per line, found '{tag}'", path, i)
            if allowed_set is not None and tag not in allowed_set:
                raise UserError(f"tag '{tag}' is not in the tag set ({', '.join(allowed)})", path, i)
            current.append(tag)
        else:
            sentences.append(current)
            starts.append(start if current else i)
            current = []
    if current:
        sentences.append(current)
        starts.append(start)
    return sentences, starts


def read_indices(path: str, what: str = "file") -> list[str]:
    """Integers as the official scorer compares them: stripped strings (validated as integers)."""
    out = []
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not value.isdigit():
            raise UserError(f"'{value}' is not a 0-based line index; expected one non-negative integer per line",
                            path, i)
        out.append(value)
    return out


def read_pairs(path: str, what: str = "file") -> list[str]:
    out = []
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not value:
            continue
        if len(value.split("\t")) != 2:
            raise UserError("expected '<xx-id><TAB><en-id>'", path, i)
        out.append(value)
    return out


def read_qa_predictions(path: str) -> dict[str, str]:
    data = read_json(path, "prediction file")
    if not isinstance(data, dict):
        raise UserError("expected a JSON object mapping question id to answer text", path, 1)
    for qid, ans in data.items():
        if not isinstance(ans, str):
            text = read_text(path)
            raise UserError(f"answer for question '{qid}' must be a string, got {type(ans).__name__}", path,
                            json_line(text, f'"{qid}"'))
    return data


def read_qa_gold(path: str) -> list[tuple[str, list[str]]]:
    """(question id, gold answer texts) in file order, from SQuAD v1.1 JSON."""
    data = read_json(path, "labels file")
    articles = data.get("data") if isinstance(data, dict) else data
    text = None

    def fail(msg: str, needle: str | None = None, nth: int = 1):
        nonlocal text
        if text is None:
            text = read_text(path)
        raise UserError(msg, path, (json_line(text, needle, nth) or json_line(text, needle)) if needle else 1)

    if not isinstance(articles, list):
        fail("expected SQuAD JSON: an object with a 'data' list of articles")
    out, seen = [], set()
    for a in articles:
        if not isinstance(a, dict) or not isinstance(a.get("paragraphs"), list):
            fail("an article lacks its 'paragraphs' list", '"paragraphs"' if text else None)
        for p in a["paragraphs"]:
            if not isinstance(p, dict) or not isinstance(p.get("qas"), list):
                fail("a paragraph lacks its 'qas' list")
            for qa in p["qas"]:
                if not isinstance(qa, dict) or "id" not in qa:
                    q = qa.get("question") if isinstance(qa, dict) else None
                    fail("a question lacks its 'id'; expected an 'id' for every question",
                         json.dumps(q, ensure_ascii=False) if isinstance(q, str) else None)
                qid = str(qa["id"])
                answers = qa.get("answers")
                if not isinstance(answers, list) or not answers:
                    fail(f"question '{qid}' has no gold 'answers'", f'"{qid}"')
                texts = []
                for ans in answers:
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                        fail(f"an answer of question '{qid}' lacks its 'text'", f'"{qid}"')
                    texts.append(ans["text"])
                if qid in seen:
                    fail(f"duplicate question id '{qid}'; expected each id once", f'"{qid}"', 2)
                seen.add(qid)
                out.append((qid, texts))
    return out


# --- writers ----------------------------------------------------------------------

def write_labels(path: str | os.PathLike, labels: Sequence[str]) -> None:
    atomic_write_text(path, "".join(f"{x}\n" for x in labels))


def write_tags(path: str | os.PathLike, sentences: Sequence[Sequence[str]]) -> None:
    atomic_write_text(path, "".join("".join(f"{t}\n" for t in s) + "\n" for s in sentences))


def write_qa(path: str | os.PathLike, answers: dict[str, str]) -> None:
    atomic_write_json(path, answers)


def write(path: str | os.PathLike, fmt: str, predictions: Any) -> None:
    if fmt in ("labels", "indices", "pairs"):
        write_labels(path, [str(p) for p in predictions])
    elif fmt == "tags":
        write_tags(path, predictions)
    elif fmt == "qa_json":
        write_qa(path, predictions)
    else:  # guarded by spec validation
        raise ValueError(f"unknown submission format {fmt}")


# --- checks shared by the families' readers -----------------------------------------

def not_empty(labels: list, label_path: str, expected: str) -> list:
    """An empty labels file would score as 0 (or divide by zero) instead of saying what is wrong."""
    if not labels:
        raise UserError(f"labels file has no gold labels; expected {expected}", label_path)
    return labels


def same_length(pred_path: str, label_path: str, n_pred: int, n_gold: int, unit: str) -> None:
    if n_pred != n_gold:
        line = min(n_pred, n_gold) + 1  # the first line one side has and the other lacks
        raise UserError(f"{n_pred} {unit} but the labels file {label_path} has {n_gold}", pred_path, line)
