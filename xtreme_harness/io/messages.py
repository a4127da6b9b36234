"""Messages about values: how a value is quoted, typed and listed in a one-line error."""

from __future__ import annotations

import json
from typing import Any, Sequence

from .errors import clip


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


def shown(value: Any) -> str:
    """A JSON value as the file writes it (NaN, true, "text"), short enough for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return clip(text, 60)


def is_number(v: Any) -> bool:
    """A JSON number: ``true`` is not one, though Python counts it as 1."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)
