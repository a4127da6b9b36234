"""Reading hand-written YAML safely, with the line of every problem at hand.

Task specs, recipes and reference rows are written by people; ``Locator``
maps a key path back to its line so that every validation error can say
``file:line``. Only ``yaml.safe_load`` is ever used.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from .errors import UserError


class Locator:
    """Maps a key path in a YAML document to its 1-based line."""

    def __init__(self, text: str):
        try:
            self.root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

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


def load_yaml(text: str, path: str) -> tuple[Any, Locator]:
    """``yaml.safe_load`` with errors that carry the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path,
                        mark.line + 1 if mark else None) from None
    return data, Locator(text)


def read_yaml_file(path: str | os.PathLike, what: str) -> tuple[Any, Locator, str]:
    """Read (BOM and CRLF tolerant, invalid UTF-8 named by line) and parse a YAML file."""
    from .data.io import read_text

    path = os.fspath(path)
    text = read_text(path, what)
    data, loc = load_yaml(text, path)
    return data, loc, text
