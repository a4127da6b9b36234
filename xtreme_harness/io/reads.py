"""What a run read, recorded as it is read, with each input's content fingerprint.

Every input the harness opens goes through :mod:`.files` (local files), or is
noted here by the code that loads it (hub datasets, checkpoint folders). A run
wraps the reading of one (task, language) in :func:`recording` and keys its
resume state on the record, so the key covers exactly what the code opened (a
gold file, a pool, the split a threshold is tuned on) with no list to keep in
step, and the same record is the provenance written beside the figures.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import stat
from typing import Any, Iterator

from .errors import os_error


class Record:
    """The inputs read inside one :func:`recording`, in the order they were first read."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def note(self, key: str, entry: dict[str, Any]) -> None:
        self.entries.setdefault(key, entry)

    def as_list(self) -> list[dict[str, Any]]:
        return list(self.entries.values())

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_list(), sort_keys=True).encode()).hexdigest()


_ACTIVE: contextvars.ContextVar[tuple[Record, ...]] = contextvars.ContextVar("xtreme_reads", default=())


@contextlib.contextmanager
def recording() -> Iterator[Record]:
    """Record every input read inside the block (nested recordings each get all of them)."""
    record = Record()
    token = _ACTIVE.set(_ACTIVE.get() + (record,))
    try:
        yield record
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Reads that are not inputs of the (task, language) being recorded (task specs, loaded once per process
    and keyed by their own content): noting them only where a cache happens to miss would make keys unstable."""
    token = _ACTIVE.set(())
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> bool:
    return bool(_ACTIVE.get())


def _note(key: str, entry: dict[str, Any]) -> None:
    for record in _ACTIVE.get():
        record.note(key, entry)


def _where(path: str | os.PathLike) -> str:
    """One spelling per file: ``dir/``, ``./dir`` and a link to it are the same input."""
    return os.path.realpath(os.fspath(path))


def note_bytes(path: str | os.PathLike, data: bytes) -> None:
    """A file read whole: its content digest (computed only while something records)."""
    if _ACTIVE.get():
        where = _where(path)
        _note(where, {"path": where, "bytes": len(data), "blake2b": hashlib.blake2b(data, digest_size=16).hexdigest()})


def note_absent(path: str | os.PathLike) -> None:
    """An optional input looked for and not found (a gold file): adding it later must change the record."""
    if _ACTIVE.get():
        where = _where(path)
        _note(where, {"path": where, "absent": True})


def note_folder(path: str | os.PathLike, what: str = "folder") -> None:
    """A folder read by other code (a local copy of a hub dataset), by the fingerprints of all its files."""
    if _ACTIVE.get():
        where = _where(path)
        _note(where, {"path": where, what: tree_fingerprint(where)})


def note_dataset(repo: str, config: str | None, split: str, revision: str | None, fingerprint: str,
                 rows: int) -> None:
    """A hub dataset: repository, config, split, the revision it resolved to and a digest of the rows read."""
    if _ACTIVE.get():
        key = f"hub:{repo}:{config}:{split}"
        _note(key, {"hub": repo, "config": config, "split": split, "revision": revision, "rows": rows,
                    "fingerprint": fingerprint})


FULL_HASH_BYTES = 64 * 2**20  # files up to this size are hashed whole; larger ones by size, mtime and samples


_SAMPLE = 2**20


_fingerprints: dict[tuple, str] = {}


def file_fingerprint(p: str | os.PathLike) -> list:
    """Path and content digest of a file, for resume fingerprints; ``[path, None]`` for a missing file.

    Small files (data, gold, configs, tokenizers) are hashed whole, so an edit
    that keeps size and mtime still counts. Weights are hashed by size, mtime
    in nanoseconds and three 1 MiB samples: a rewrite of the same size is
    caught without reading gigabytes on every resume.
    """
    path = os.fspath(p)
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    if not stat.S_ISREG(st.st_mode):
        return [path, "not a regular file"]
    key = (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)  # ctime: no utime() hides a write
    if key not in _fingerprints:
        h = hashlib.blake2b(str(st.st_size).encode(), digest_size=16)
        try:
            with open(path, "rb") as f:
                if st.st_size <= FULL_HASH_BYTES:
                    for block in iter(lambda: f.read(2**22), b""):
                        h.update(block)
                else:
                    h.update(str(st.st_mtime_ns).encode())
                    for offset in (0, st.st_size // 2, st.st_size - _SAMPLE):
                        f.seek(offset)
                        h.update(f.read(_SAMPLE))
        except OSError as exc:
            raise os_error(exc, path, "input file") from None
        _fingerprints[key] = h.hexdigest()
    return [path, _fingerprints[key]]


def folder_fingerprint(folder: str | os.PathLike) -> list:
    """:func:`file_fingerprint` of every file of a checkpoint folder: weights, config and tokenizer alike
    (not its hidden files or its model card)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise os_error(exc, folder, "checkpoint folder") from None
    return [file_fingerprint(os.path.join(folder, n)) for n in names
            if not n.startswith(".") and not n.endswith(".md")]


def tree_fingerprint(folder: str | os.PathLike) -> list:
    """:func:`file_fingerprint` of every file below ``folder`` (not hidden ones), by relative path."""
    root = os.fspath(folder)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(n for n in filenames if not n.startswith(".")):
            path = os.path.join(dirpath, name)
            out.append([os.path.relpath(path, root), file_fingerprint(path)[1]])
    return out
