"""Line formats of submissions and labels: one label, tag, index or id pair per line; strict readers and exact writers.

Formats (``format`` in a task spec) that several families share:
  labels   one label per line (XNLI, PAWS-X)
  tags     one tag per token, a blank line after each sentence (UD-POS, PAN-X)
  indices  one 0-based integer per line (Tatoeba)
  pairs    ``<xx-id>\\t<en-id>`` per line (BUCC)
Numbers are ASCII digits only, ids hold no whitespace, and every quoted value is clipped."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..io.errors import UserError
from ..io.files import atomic_write_text, read_lines
from ..io.jsonfile import has_foreign_digit, is_index
from ..io.messages import listing, show


def check_id(value: str, what: str, path: str | os.PathLike, line: int | None) -> str:
    """An id compared as text: non-empty, no whitespace, and no digits other than ASCII ones."""
    if not value or any(c.isspace() for c in value):
        raise UserError(f"{what} {show(value)} is empty or holds whitespace; expected an id without spaces",
                        os.fspath(path), line)
    if has_foreign_digit(value):
        raise UserError(f"{what} {show(value)} holds a non-ASCII digit; expected ids written with ASCII digits "
                        "(they are compared as text)", os.fspath(path), line)
    return value


def read_label_lines(path: str, allowed: Sequence[str] | None = None, what: str = "file") -> list[str]:
    """One label per line (stripped); every line must hold one, from ``allowed`` when given."""
    out = []
    allowed_set = set(allowed) if allowed else None
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not value:
            raise UserError("empty line; expected one label per line", path, i)
        if allowed_set is not None and value not in allowed_set:
            raise UserError(f"label {show(value)} is not in the label set ({listing(allowed)})", path, i)
        out.append(value)
    return out


TAGS_EXPECTED = "one tag per line and a blank line after each sentence"


def read_tag_sentences(path: str, allowed: Sequence[str] | None = None,
                       what: str = "file") -> tuple[list[list[str]], list[int]]:
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
                raise UserError(f"expected one tag per line, found {show(tag)}", path, i)
            if allowed_set is not None and tag not in allowed_set:
                raise UserError(f"tag {show(tag)} is not in the tag set ({listing(allowed)})", path, i)
            current.append(tag)
        else:
            sentences.append(current)
            starts.append(start if current else i)
            current = []
    if current:
        sentences.append(current)
        starts.append(start)
    return sentences, starts


def read_tag_gold(path: str, allowed: Sequence[str] | None = None,
                  what: str = "labels file") -> tuple[list[list[str]], list[int]]:
    """A tags file that holds gold: :func:`read_tag_sentences`, refusing a file without a single tag
    (blank lines alone would score as 0)."""
    sentences, starts = read_tag_sentences(path, allowed, what)
    not_empty(sentences, path, TAGS_EXPECTED)
    if not any(sentences):
        raise UserError(f"{what} has no gold labels: no sentences, only blank lines; expected {TAGS_EXPECTED}",
                        path)
    return sentences, starts


def non_empty(sentences: list[list[str]], starts: list[int]) -> tuple[list[list[str]], list[int]]:
    """The sentences that hold a tag, and their first lines: two blank lines in a row make an empty sentence
    that carries nothing to score, so both commands align a tags file on the others (as a data file's
    sentences are)."""
    kept = [(s, st) for s, st in zip(sentences, starts) if s]
    return [s for s, _ in kept], [st for _, st in kept]


INDEX_EXPECTED = "one non-negative integer per line (ASCII digits, no leading zeros)"


def read_indices(path: str, what: str = "file") -> list[str]:
    """0-based line indices as the official scorer compares them: stripped strings, each the canonical
    ASCII form of an integer, so that comparing them as text is comparing them as numbers."""
    out = []
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not is_index(value):
            raise UserError(f"{show(value)} is not a 0-based line index; expected {INDEX_EXPECTED}", path, i)
        out.append(value)
    return out


PAIRS_EXPECTED = "'<xx-id><TAB><en-id>'"


def read_id_pairs(path: str | os.PathLike, what: str = "file") -> tuple[list[tuple[str, str]], list[int]]:
    """``<xx-id><TAB><en-id>`` lines (blank lines skipped) and the line of each pair."""
    path = os.fspath(path)
    pairs, lines = [], []
    for i, line in enumerate(read_lines(path, what), 1):
        value = line.strip()
        if not value:
            continue
        if value.count("\t") != 1:
            raise UserError(f"expected {PAIRS_EXPECTED}", path, i)
        xx, en = value.split("\t")
        pairs.append((check_id(xx, "sentence id", path, i), check_id(en, "sentence id", path, i)))
        lines.append(i)
    return pairs, lines


def read_pairs(path: str, what: str = "file") -> list[str]:
    """BUCC pairs as the metric takes them: ``"<xx-id>\\t<en-id>"`` strings."""
    return [f"{xx}\t{en}" for xx, en in read_id_pairs(path, what)[0]]


def write_labels(path: str | os.PathLike, labels: Sequence[str]) -> None:
    atomic_write_text(path, "".join(f"{x}\n" for x in labels))


def write_tags(path: str | os.PathLike, sentences: Sequence[Sequence[str]]) -> None:
    # each tag on its line, then a blank line: "a\nb\n\n" ("\n" alone for a sentence without tags)
    atomic_write_text(path, "".join([("\n".join(map(str, s)) + "\n\n") if s else "\n" for s in sentences]))


def not_empty(labels: list, label_path: str, expected: str) -> list:
    """An empty labels file would score as 0 (or divide by zero) instead of saying what is wrong."""
    if not labels:
        raise UserError(f"labels file has no gold labels; expected {expected}", label_path)
    return labels


def same_length(pred_path: str, label_path: str, n_pred: int, n_gold: int, unit: str) -> None:
    if n_pred != n_gold:
        line = min(n_pred, n_gold) + 1  # the first line one side has and the other lacks
        raise UserError(f"{n_pred} {unit} but the labels file {label_path} has {n_gold}", pred_path, line)


def write_submission(path: str | os.PathLike, fmt: str, predictions: Any) -> None:
    """A submission (or labels) file in one of the line formats."""
    if fmt in ("labels", "indices", "pairs"):
        write_labels(path, [str(p) for p in predictions])
    elif fmt == "tags":
        write_tags(path, predictions)
    else:  # guarded by spec validation
        raise ValueError(f"unknown line submission format {fmt}")
