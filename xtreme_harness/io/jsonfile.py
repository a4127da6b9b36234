"""Strict JSON: one-line errors, no repeated keys, and the line of any key path for messages.

The package's one JSON parser. ``json`` keeps the last of two equal keys
silently; every input here refuses them instead, naming the line. Numbers are
ASCII digits only where a file holds indices (``int()`` would take ``²`` or
``٣``). :class:`JsonLocator` maps a key path back to its line, so a bad value
deep in a results file is reported at ``file:line``.
"""

from __future__ import annotations

import json
import os
import re
from json.decoder import JSONArray, JSONObject
from json.scanner import py_make_scanner
from typing import Any, Iterator, Sequence

from .errors import UserError, clip
from .files import read_lines, read_text
from .messages import json_type, show


def parse_json(text: str, path: str | os.PathLike, what: str = "JSON file") -> Any:
    """``json.loads`` with one-line errors: malformed, empty, or nested too deeply to hold data."""
    if not text.strip():  # json's "Expecting value" would not say what is wrong
        raise UserError(f"{what} is empty; expected JSON", os.fspath(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg} (column {exc.colno})", os.fspath(path), exc.lineno) from None
    except RecursionError:
        raise UserError(f"{what} is nested too deeply to be read; expected a JSON document of records",
                        os.fspath(path)) from None
    except ValueError as exc:  # not malformed but unreadable: an integer of thousands of digits
        long = re.search(r"[0-9]{4300,}", text)
        raise UserError(f"a number of {long.end() - long.start() if long else 'too many'} digits cannot be read "
                        f"({clip(str(exc), 80)}); expected JSON with ordinary numbers", os.fspath(path),
                        text.count("\n", 0, long.start()) + 1 if long else None) from None


def json_line(text: str, needle: str, nth: int = 1) -> int | None:
    """Best-effort 1-based line of the ``nth`` occurrence of ``needle`` in a JSON text (for messages)."""
    pos = -1
    for _ in range(nth):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return None
    return text.count("\n", 0, pos) + 1


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


class RepeatedKey(Exception):
    def __init__(self, key: str, at: int | None = None, first: int | None = None):
        super().__init__(key)
        self.key, self.at, self.first = key, at, first


def unique_keys(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKey(key)
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
                raise RepeatedKey(key, at, node.value_at[key])
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
    except (ValueError, RecursionError, RepeatedKey):
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


def _duplicate_lines(text: str) -> tuple[int | None, int | None]:
    """(line of the first, line of the repeated) key of the first object that repeats one."""
    if len(text) > POSITION_LIMIT:
        return None, None
    try:
        _positioned(text)
    except RepeatedKey as exc:
        return (_line(text, exc.first) if exc.first is not None else None,
                _line(text, exc.at) if exc.at is not None else None)
    except (ValueError, RecursionError):
        return None, None
    return None, None


def load_json_text(text: str, path: str | os.PathLike, what: str = "JSON file", key: str = "key") -> Any:
    """JSON from ``text``, refusing an object that repeats a key (``key`` names what the keys are in messages).

    Malformed, empty and too deeply nested documents get the one-line errors of :func:`io.parse_json`.
    """
    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except RepeatedKey as exc:
        first, second = _duplicate_lines(text)
        lines = f" (lines {first} and {second})" if first is not None and second is not None else ""
        raise UserError(f"duplicate {key} {show(exc.key)} in one JSON object{lines}; expected each {key} once "
                        "(the last one would silently win)", os.fspath(path), second) from None
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
            rec = json.loads(line, object_pairs_hook=unique_keys)
        except json.JSONDecodeError as exc:
            raise UserError(f"malformed JSON line: {exc.msg} (column {exc.colno}); expected {expected}",
                            path, i) from None
        except RecursionError:
            raise UserError(f"JSON line nested too deeply to be read; expected {expected}", path, i) from None
        except ValueError:  # an integer of thousands of digits
            raise UserError(f"JSON line holds a number too long to be read; expected {expected}", path, i) from None
        except RepeatedKey as exc:
            raise UserError(f"duplicate key {show(exc.key)} in one JSON object; expected each key once", path,
                            i) from None
        if not isinstance(rec, dict):
            raise UserError(f"found {json_type(rec)}; expected {expected}", path, i)
        yield i, rec


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """A JSON file, strictly: a repeated key is refused like any malformed document."""
    return load_json(path, what)[0]


class JsonLocator:
    """Maps a key path of a JSON text to the 1-based line of its key (of the last one, where a key repeats,
    as ``json`` keeps the last); the same interface as :class:`~xtreme_harness.io.yamlfile.Locator`."""

    def __init__(self, text: str):
        self.text = text
        self._offsets: dict[tuple, int] | None = None

    def line(self, keys: tuple) -> int | None:
        if self._offsets is None:
            self._offsets = _json_offsets(self.text)
        keys = tuple(keys)
        while keys and keys not in self._offsets:
            keys = keys[:-1]
        if not keys:
            return None
        return self.text.count("\n", 0, self._offsets[keys]) + 1


_WS = re.compile(r"[ \t\n\r]*")


_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")


def _json_offsets(text: str) -> dict[tuple, int]:
    """Offset of every value's key (or, in a list, of the value) by key path; iterative, so any depth."""
    from json.decoder import scanstring

    out: dict[tuple, int] = {}
    stack: list[list] = []  # [path of the container, is an object, index]
    i = _WS.match(text, 0).end()
    path: tuple = ()
    start = i
    try:
        while True:
            out[path] = start
            ch = text[i]
            if ch in "{[":
                j = _WS.match(text, i + 1).end()
                if text[j] in "}]":
                    i = j + 1
                elif ch == "{":
                    key, i = scanstring(text, j + 1)
                    i = _WS.match(text, _WS.match(text, i).end() + 1).end()  # past the colon
                    stack.append([path, True, 0])
                    path, start = path + (key,), j
                    continue
                else:
                    stack.append([path, False, 0])
                    path, start, i = path + (0,), j, j
                    continue
            elif ch == '"':
                i = scanstring(text, i + 1)[1]
            else:
                i = _SCALAR.match(text, i).end()
            while stack:  # after a value: the next member, or close the container
                i = _WS.match(text, i).end()
                parent, is_object, index = stack[-1]
                if text[i] != ",":
                    stack.pop()
                    i += 1
                    continue
                j = _WS.match(text, i + 1).end()
                if is_object:
                    key, i = scanstring(text, j + 1)
                    i = _WS.match(text, _WS.match(text, i).end() + 1).end()
                    path, start = parent + (key,), j
                else:
                    stack[-1][2] = index + 1
                    path, start, i = parent + (index + 1,), j, j
                break
            else:
                return out
    except (IndexError, ValueError, AttributeError):  # not JSON after all: the lines found so far
        return out


class Where:
    """Raises a UserError at the line of a key path; the locator is built only when something is wrong."""

    def __init__(self, path: str, loc: Any = None):
        self.path, self._loc = path, loc

    def line(self, keys: tuple) -> int | None:
        if self._loc is None:
            try:
                self._loc = JsonLocator(read_text(self.path)) if os.path.isfile(self.path) else False
            except UserError:
                self._loc = False
        return self._loc.line(keys) if self._loc and keys else None

    def fail(self, msg: str, *keys) -> None:
        raise UserError(msg, self.path, self.line(keys))
