"""The on-disk feature cache: tokenised features kept between runs, keyed by what they were made from.

A second run over the same data with the same tokenizer skips tokenisation.
An entry's key is a digest of the featuriser (family, version, settings), the
tokenizer's files by content, and the data: the record of what the (task,
language) read (:mod:`.reads`, every file by content digest) with the split,
the limit and the task spec, which the run loop sets around each prediction
(:func:`inputs`). A changed data file or tokenizer therefore never hits an old
entry; nothing is ever invalidated by time.

Entries are single files (a small JSON header, then the arrays' raw bytes),
written to a temporary name and renamed, so that concurrent runs only ever
see whole files (two runs making the same entry write the same bytes); a
file that cannot be read back as it should (truncated, foreign) is a miss. The
folder is bounded: after each write the least recently used entries (by
modification time, which a hit refreshes) are removed until it holds at
most ``max_bytes``. ``xtreme-eval --no-feature-cache`` turns it off; the folder
is ``$XTREME_FEATURE_CACHE`` (default ``~/.cache/xtreme-harness/features``) and
its bound ``$XTREME_FEATURE_CACHE_MAX`` (bytes, or with a K/M/G suffix; default 2G).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

ENV_DIR = "XTREME_FEATURE_CACHE"
ENV_MAX = "XTREME_FEATURE_CACHE_MAX"
DEFAULT_MAX_BYTES = 2 * 2**30
SUFFIX = ".xfc"
_MAGIC = b"XTREME-FEATURES-1\n"
_ALIGN = 64

_INPUTS: contextvars.ContextVar[str | None] = contextvars.ContextVar("xtreme_feature_inputs", default=None)


@contextlib.contextmanager
def inputs(key: str | None) -> Iterator[None]:
    """Features made inside the block are of the data that ``key`` digests (None: unknown, not cached)."""
    token = _INPUTS.set(key)
    try:
        yield
    finally:
        _INPUTS.reset(token)


def current_inputs() -> str | None:
    """The digest of the data being featurised, when the run loop knows it."""
    return _INPUTS.get()


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def default_folder() -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xtreme-harness" / "features"


def parse_size(text: str | None, default: int = DEFAULT_MAX_BYTES) -> int:
    """``123``, ``500M``, ``2G`` -> bytes; None or unreadable -> ``default``."""
    if not text:
        return default
    text = text.strip().upper().removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(text[-1:], 1)
    try:
        return max(0, int(float(text[:-1] if scale > 1 else text) * scale))
    except ValueError:
        return default


class FeatureCache:
    """Named numpy arrays (plus a small JSON-able ``meta``) per key, in one bounded folder."""

    def __init__(self, folder: str | os.PathLike | None = None, max_bytes: int | None = None):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.max_bytes = max_bytes if max_bytes is not None else parse_size(os.environ.get(ENV_MAX))
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def load(self, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The arrays and meta stored under ``key``, or None (absent, or not a whole entry)."""
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                data = bytearray(os.fstat(f.fileno()).st_size)
                got = f.readinto(data)
        except OSError:
            self.misses += 1
            return None
        found = _decode(data, got)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept longest
        return found

    def save(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any] | None = None) -> None:
        """Store an entry (a failure to write, such as a full disk or a read-only folder, is not an error:
        the run goes on without the cache), then keep the folder within its bound."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=self.folder)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as f:
                for part in _encode(arrays, meta or {}):
                    f.write(part)
            os.replace(tmp, self.path(key))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        self.evict()

    def evict(self) -> int:
        """Remove least recently used entries until the folder holds at most ``max_bytes``; how many went."""
        entries = []
        try:
            with os.scandir(self.folder) as it:
                for e in it:
                    if e.name.endswith(SUFFIX):
                        with contextlib.suppress(OSError):
                            st = e.stat()
                            entries.append((st.st_mtime_ns, st.st_size, e.path))
        except OSError:
            return 0
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):  # another run may have removed it first
                os.unlink(path)
                removed += 1
            total -= size
        return removed

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else 0


def _encode(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]):
    table, offset, blobs = [], 0, []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.hasobject:
            raise TypeError(f"array {name!r} holds Python objects; the feature cache stores plain numbers only")
        table.append([name, arr.dtype.str, list(arr.shape), offset, arr.nbytes])
        blobs.append(arr)
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"meta": meta, "arrays": table, "payload": offset}).encode()
    head = _MAGIC + len(header).to_bytes(8, "little") + header
    head += b"\0" * (-len(head) % _ALIGN)
    yield head
    for arr in blobs:
        yield memoryview(arr).cast("B") if arr.nbytes else b""
        yield b"\0" * (-arr.nbytes % _ALIGN)


def _decode(data: bytearray, got: int) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    n = len(_MAGIC)
    if got != len(data) or data[:n] != _MAGIC or len(data) < n + 8:
        return None
    size = int.from_bytes(data[n:n + 8], "little")
    try:
        header = json.loads(bytes(data[n + 8:n + 8 + size]))
        base = n + 8 + size
        base += -base % _ALIGN
        if base + int(header["payload"]) != len(data):
            return None
        arrays = {}
        for name, dtype, shape, offset, nbytes in header["arrays"]:
            dt = np.dtype(dtype)
            count = int(np.prod(shape, dtype=np.int64))
            if dt.hasobject or count * dt.itemsize != nbytes:
                return None
            arrays[name] = np.frombuffer(data, dtype=dt, count=count, offset=base + offset).reshape(shape)
        return arrays, dict(header.get("meta") or {})
    except (ValueError, KeyError, TypeError):
        return None


__all__ = ["FeatureCache", "current_inputs", "default_folder", "digest", "inputs", "parse_size"]
