"""Schema checks for the trainer's YAML files that point at the offending line.

Recipes and intermediate-task specs are written by hand; a typo in a key name
would otherwise silently fall back to a default and cost a GPU-day, so every
unknown key, wrong type or bad value is a :class:`UserError` naming file:line.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..yamlfile import Locator, load_yaml, read_yaml_file  # noqa: F401 - re-exported for the trainer

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
