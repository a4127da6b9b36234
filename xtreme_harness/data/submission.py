"""The official submission and label file formats: read them strictly, write them exactly.

Formats (``submission.format`` in a task spec) that several families share:
  labels   one label per line (XNLI, PAWS-X)
  tags     one tag per token, a blank line after each sentence (UD-POS, PAN-X)
  indices  one 0-based integer per line (Tatoeba)
  pairs    ``<xx-id>\\t<en-id>`` per line (BUCC)
  qa_json  predictions: {question id: answer text}; labels: SQuAD v1.1 JSON
Formats only one family writes live in that family's module.

Each format has one reader here, used by ``xtreme-score`` for both sides and
by ``xtreme-eval`` for gold files, so both commands give the same verdict on
the same file. The strict primitives every reader of the package shares live
here too: numbers are ASCII digits only (``int()`` and ``str.isdigit()`` take
``²``, ``０`` and Arabic-Indic digits), JSON objects may not repeat a key (the
last one would win silently), and every quoted value is clipped.
"""

from __future__ import annotations

import json
import os
import re
from json.decoder import JSONArray, JSONObject
from json.scanner import py_make_scanner
from typing import Any, Iterator, Sequence

from ..errors import UserError, clip
from .io import atomic_write_json, atomic_write_text, parse_json, read_lines, read_text

# --- strict primitives -------------------------------------------------------------------

_INDEX = re.compile(r"0|[1-9][0-9]{0,17}", re.ASCII)  # 18 digits at most: int() refuses 4300 and more
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,17})", re.ASCII)
# Characters that str.isdigit() accepts beyond the decimal digits \d matches (superscripts, circled digits, ...).
_OTHER_DIGITS = ((0xB2, 0xB3), (0xB9, 0xB9), (0x1369, 0x1371), (0x19DA, 0x19DA), (0x2070, 0x2070), (0x2074, 0x2079),
                 (0x2080, 0x2089), (0x2460, 0x2468), (0x2474, 0x247C), (0x2488, 0x2490), (0x24EA, 0x24EA),
                 (0x24F5, 0x24FD), (0x24FF, 0x24FF), (0x2776, 0x277E), (0x2780, 0x2788), (0x278A, 0x2792),
                 (0x10A40, 0x10A43), (0x10E60, 0x10E68), (0x11052, 0x1105A), (0x1F100, 0x1F10A))
_FOREIGN_DIGIT = re.compile("(?![0-9])[\\d" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _OTHER_DIGITS) + "]")


def is_index(text: str) -> bool:
    """A non-negative integer written in ASCII digits without leading zeros (``"0"``, ``"17"``)."""
    return _INDEX.fullmatch(text) is not None


def parse_int(value: Any) -> int | None:
    """A JSON integer (never a bool or float) or a string of ASCII digits as an int; None otherwise."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def has_foreign_digit(text: str) -> bool:
    """Whether ``text`` holds a digit other than ASCII 0-9 (which would compare unequal to its ASCII twin)."""
    return _FOREIGN_DIGIT.search(text) is not None


def show(value: Any, limit: int = 60) -> str:
    """A value for a message: a clipped quoted string, a number, or the JSON type of a container."""
    if isinstance(value, str):
        return f"'{clip(value, limit)}'"
    if value is None or isinstance(value, (bool, int, float)):
        return clip(json.dumps(value), limit)
    return json_type(value)


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages ("a string", "an object", ...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else type(value).__name__


def listing(items: Sequence[str], limit: int = 12) -> str:
    """``a, b, c`` for a message, at most ``limit`` items (a spec may list hundreds)."""
    items = [clip(str(x), 40) for x in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items) - limit} more)"


class _Duplicate(Exception):
    def __init__(self, key: str, at: int | None = None):
        super().__init__(key)
        self.key, self.at = key, at


def _unique(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _At(dict):
    """A JSON object that remembers where it and each of its values start in the text."""

    __slots__ = ("at", "value_at")


class _AtList(list):
    __slots__ = ("at", "item_at")


POSITION_LIMIT = 64 * 2**20  # larger texts are not re-read to place an error on its line


def _positioned(text: str) -> Any:
    """The JSON text parsed with the start offset of every object, array and value (error paths only: slow)."""
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo=None):
        starts: list[int] = []

        def scan(s, idx):
            starts.append(idx)
            return scan_once(s, idx)

        pairs, end = JSONObject(s_and_end, strict, scan, None, list, memo)
        node = _At()
        node.at, node.value_at = s_and_end[1] - 1, {}
        for (key, value), at in zip(pairs, starts):
            if key in node:
                raise _Duplicate(key, at)
            node[key] = value
            node.value_at[key] = at
        return node, end

    def parse_array(s_and_end, scan_once):
        starts: list[int] = []

        def scan(s, idx):
            starts.append(idx)
            return scan_once(s, idx)

        values, end = JSONArray(s_and_end, scan)
        node = _AtList(values)
        node.at, node.item_at = s_and_end[1] - 1, starts[:len(values)]
        return node, end

    decoder.parse_object = parse_object
    decoder.parse_array = parse_array
    decoder.scan_once = py_make_scanner(decoder)
    return decoder.decode(text)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def json_path_line(text: str, keys: Sequence[Any]) -> int | None:
    """The line of the value at ``keys`` (object keys and list indices) in a JSON text, or of the deepest
    part of that path that exists; None when the text is too large or too deep to re-read."""
    if len(text) > POSITION_LIMIT:
        return None
    try:
        node = _positioned(text)
    except (ValueError, RecursionError, _Duplicate):
        return None
    at = getattr(node, "at", 0)
    for key in keys:
        if isinstance(node, _At) and key in node:
            at, node = node.value_at[key], node[key]
        elif isinstance(node, _AtList) and isinstance(key, int) and 0 <= key < len(node):
            at, node = node.item_at[key], node[key]
        else:
            break
    return _line(text, at)


def _duplicate_line(text: str) -> int | None:
    if len(text) > POSITION_LIMIT:
        return None
    try:
        _positioned(text)
    except _Duplicate as exc:
        return _line(text, exc.at) if exc.at is not None else None
    except (ValueError, RecursionError):
        return None
    return None


def load_json_text(text: str, path: str | os.PathLike, what: str = "JSON file", key: str = "key") -> Any:
    """JSON from ``text``, refusing an object that repeats a key (``key`` names what the keys are in messages).

    Malformed, empty and too deeply nested documents get the one-line errors of :func:`io.parse_json`.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except _Duplicate as exc:
        raise UserError(f"duplicate {key} {show(exc.key)} in one JSON object; expected each {key} once "
                        "(the last one would silently win)", os.fspath(path), _duplicate_line(text)) from None
    except (ValueError, RecursionError):
        parse_json(text, path, what)  # raises the one-line error for this text
        raise


def load_json(path: str | os.PathLike, what: str = "JSON file", key: str = "key") -> tuple[Any, str]:
    """A JSON file read through :mod:`.io` (regular file, size cap), strictly: (document, text)."""
    text = read_text(path, what)
    return load_json_text(text, path, what, key), text


def json_lines(path: str | os.PathLike, what: str, expected: str, blank: str = "skip") -> Iterator[tuple[int, dict]]:
    """(line number, object) per line of a JSON-lines file; ``blank='error'`` refuses blank lines
    (a file whose lines are aligned with another's)."""
    path = os.fspath(path)
    for i, line in enumerate(read_lines(path, what), 1):
        if not line.strip():
            if blank == "error":
                raise UserError(f"empty line; expected {expected}", path, i)
            continue
        try:
            rec = json.loads(line, object_pairs_hook=_unique)
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON line: {exc.msg} (column {exc.colno}); expected {expected}",
                            path, i) from None
        except RecursionError:
            raise UserError(f"JSON line nested too deeply to be read; expected {expected}", path, i) from None
        except ValueError:  # an integer of thousands of digits
            raise UserError(f"JSON line holds a number too long to be read; expected {expected}", path, i) from None
        except _Duplicate as exc:
            raise UserError(f"duplicate key {show(exc.key)} in one JSON object; expected each key once", path,
                            i) from None
        if not isinstance(rec, dict):
            raise UserError(f"found {json_type(rec)}; expected {expected}", path, i)
        yield i, rec


def check_id(value: str, what: str, path: str | os.PathLike, line: int | None) -> str:
    """An id compared as text: non-empty, no whitespace, and no digits other than ASCII ones."""
    if not value or any(c.isspace() for c in value):
        raise UserError(f"{what} {show(value)} is empty or holds whitespace; expected an id without spaces",
                        os.fspath(path), line)
    if has_foreign_digit(value):
        raise UserError(f"{what} {show(value)} holds a non-ASCII digit; expected ids written with ASCII digits "
                        "(they are compared as text)", os.fspath(path), line)
    return value


# --- line formats ----------------------------------------------------------------------

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


# --- JSON formats ----------------------------------------------------------------------

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
    from .readers import read_squad

    return [(ex.id, [a.text for a in ex.answers]) for ex in read_squad(path, what="labels file", labels=True)]


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
