"""Reading hand-written YAML safely, with the line of every problem at hand.

Task specs, recipes and reference rows are written by people; ``Locator``
maps a key path back to its line so that every validation error can say
``file:line``. Only ``yaml.safe_load`` is ever used.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from .errors import UserError, clip
from .files import read_text


#: Files shipped inside the package (the built-in task specs) are parsed with libyaml where PyYAML has it:
#: every run reads them, and the pure-Python parser spends most of a second on them. A user's file keeps the
#: pure-Python parser, whose nesting limit is Python's recursion limit (libyaml's composer recurses in C).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SAFE_C = getattr(yaml, "CSafeLoader", None)


def _shipped(path: str | None) -> bool:
    return _SAFE_C is not None and bool(path) and os.path.abspath(path).startswith(_PACKAGE_DIR)


class Locator:
    """Maps a key path in a YAML document to its 1-based line; the document is composed only when a line
    is asked for (an error message), not on every successful read."""

    def __init__(self, text: str, loader: Any = None):
        self._text, self._loader, self._root, self._composed = text, loader or yaml.SafeLoader, None, False

    @property
    def root(self):
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=self._loader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line(self, keys: tuple) -> int | None:
        node, line = self.root, 1
        for key in keys:
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for k, v in node.value:
                    if k.value == str(key):
                        line, nxt = k.start_mark.line + 1, v
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return line


class _Repeated(Exception):
    def __init__(self, key: Any, first: int, second: int):
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


class _Strict:
    """A safe loader that refuses a mapping repeating a key (the later one would silently win)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None:
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _Repeated(key, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep)


class _StrictLoader(_Strict, yaml.SafeLoader):
    pass


_StrictCLoader = type("_StrictCLoader", (_Strict, _SAFE_C), {}) if _SAFE_C is not None else _StrictLoader


MAX_YAML_BYTES = 16 * 2**20  # specs, recipes, manifests and reference rows are written by hand
MAX_YAML_NODES = 200_000  # after alias expansion: a 900-byte "billion laughs" must not run for minutes


def load_yaml(text: str, path: str) -> tuple[Any, Locator]:
    """``yaml.safe_load`` with errors that carry the line, and bounds on size, nesting and alias expansion."""
    if len(text) > MAX_YAML_BYTES:
        raise UserError(f"YAML file is {len(text)} characters, more than the {MAX_YAML_BYTES} a hand-written "
                        "spec, recipe or manifest may have", path)
    shipped = _shipped(path)
    try:
        _check_expansion(text, path, _SAFE_C if shipped else yaml.SafeLoader)
        data = yaml.load(text, Loader=_StrictCLoader if shipped else _StrictLoader)  # noqa: S506 - safe loaders
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path,
                        mark.line + 1 if mark else None) from None
    except _Repeated as exc:
        raise UserError(f"key '{clip(str(exc.key), 60)}' is given twice (lines {exc.first} and {exc.second}); expected "
                        "each key once (the later one would silently win)", path, exc.second) from None
    except RecursionError:
        raise UserError("YAML is nested too deeply to be a spec; expected a few levels of mappings", path) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise UserError(f"invalid YAML value: {clip(str(exc), 120)}", path) from None
    return data, Locator(text, _SAFE_C if shipped else None)


def _check_expansion(text: str, path: str, loader: Any = yaml.SafeLoader) -> None:
    """Refuse a document whose aliases expand past ``MAX_YAML_NODES`` nodes (counted without expanding)."""
    if "*" not in text:  # no alias, no expansion
        return
    root = yaml.compose(text, Loader=loader)
    size: dict[int, int] = {}

    def count(node) -> int:
        key = id(node)
        if key not in size:
            size[key] = 0  # a cycle (a recursive alias) counts once
            kids = node.value if isinstance(node, yaml.SequenceNode) else (
                [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else [])
            size[key] = min(1 + sum(count(k) for k in kids), MAX_YAML_NODES + 1)
        return size[key]

    if root is not None and count(root) > MAX_YAML_NODES:
        raise UserError(f"YAML aliases expand to more than {MAX_YAML_NODES:,} values; expected a spec without "
                        "alias bombs", path, 1)


def load_shipped(path: str | os.PathLike) -> Any:
    """A YAML file shipped with the package (trusted, no line bookkeeping), with libyaml where available."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_SAFE_C or yaml.SafeLoader)  # noqa: S506 - a safe loader


def read_yaml_file(path: str | os.PathLike, what: str) -> tuple[Any, Locator, str]:
    """Read (BOM and CRLF tolerant, invalid UTF-8 named by line) and parse a YAML file."""
    path = os.fspath(path)
    text = read_text(path, what)
    data, loc = load_yaml(text, path)
    return data, loc, text


# --- schema checks -----------------------------------------------------------------
# A typo in a key name would otherwise silently fall back to a default, so every
# unknown key, wrong type or bad value is a UserError naming file:line.

_TYPE_NAMES = {str: "a string", dict: "a mapping", list: "a list", int: "an integer", float: "a number",
               bool: "true or false"}


def dotted(where: tuple) -> str:
    out = ""
    for k in where:
        out += f"[{k}]" if isinstance(k, int) else (("." if out else "") + str(k))
    return out or "the document"


def type_ok(value: Any, typ) -> bool:
    types = typ if isinstance(typ, tuple) else (typ,)
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int):
        return True
    return isinstance(value, types)


def type_name(typ) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def check_mapping(data: Any, schema: dict, where: tuple, path: str, loc: Locator) -> dict:
    """``schema`` maps key -> (type or tuple of types, required); None values count as absent."""
    if not isinstance(data, dict):
        raise UserError(f"{dotted(where)} must be a mapping", path, loc.line(where))
    for key in data:
        if key not in schema:
            raise UserError(f"unknown key '{dotted(where + (key,))}' (allowed here: {', '.join(sorted(schema))})",
                            path, loc.line(where + (key,)))
    for key, (typ, required) in schema.items():
        value = data.get(key)
        if value is None:
            if required:
                raise UserError(f"missing required key '{dotted(where + (key,))}'", path, loc.line(where))
            continue
        if not type_ok(value, typ):
            raise UserError(f"'{dotted(where + (key,))}' must be {type_name(typ)}, got {type(value).__name__}",
                            path, loc.line(where + (key,)))
    return data


def str_list(value: Any, where: tuple, path: str, loc: Locator, allow_csv: bool = True) -> list[str]:
    """A list of names, or (``allow_csv``) one comma-separated string."""
    if isinstance(value, str) and allow_csv:
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise UserError(f"'{dotted(where)}' must be a list of names", path, loc.line(where))
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise UserError(f"'{dotted(where + (i,))}' must be a string", path, loc.line(where + (i,)))
        out.append(str(item))
    return out
