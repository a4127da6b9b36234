"""Text and JSON file access with errors that name the file and the line.

Every reader goes through here, so BOMs, CRLF line ends and invalid UTF-8 are
handled once: a BOM and CR before LF are dropped, invalid UTF-8 is a
:class:`UserError` naming the line. Writes are atomic (temp file, then rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import UserError


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise UserError(f"{what} not found", path) from None
    except IsADirectoryError:
        raise UserError(f"expected a {what}, found a directory", path) from None
    except PermissionError:
        raise UserError(f"{what} is not readable (permission denied)", path) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}); expected UTF-8 text", path, line) from None


def read_lines(path: str | os.PathLike, what: str = "file") -> list[str]:
    """Lines without their line ends; a final line end does not make an extra empty line."""
    text = read_text(path, what)
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    text = read_text(path, what)
    if not text.strip():  # json's "Expecting value" would not say what is wrong
        raise UserError(f"{what} is empty; expected JSON", os.fspath(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"malformed JSON: {exc.msg} (column {exc.colno})", os.fspath(path), exc.lineno) from None


def json_line(text: str, needle: str, nth: int = 1) -> int | None:
    """Best-effort 1-based line of the ``nth`` occurrence of ``needle`` in a JSON text (for messages)."""
    pos = -1
    for _ in range(nth):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return None
    return text.count("\n", 0, pos) + 1


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=False) + "\n")


def file_stat(p: Path) -> list:
    """Path, size and mtime (whole seconds) of a file, for fingerprints; None for a missing file."""
    try:
        st = Path(p).stat()
        return [str(p), st.st_size, int(st.st_mtime)]
    except OSError:
        return [str(p), None, None]


def safe_join(root: str | os.PathLike, *parts: str) -> Path:
    """Join under ``root`` and refuse any result outside it (ids or specs with ``../``)."""
    root_p = Path(root).resolve()
    out = root_p.joinpath(*parts).resolve()
    if out != root_p and root_p not in out.parents:
        raise UserError(f"path '{os.path.join(*parts)}' would leave the folder {root_p}")
    return out
