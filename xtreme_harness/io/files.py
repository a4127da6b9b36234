"""Files: reading regular files with errors that name the file and line, and writing them atomically.

Every reader goes through here, so BOMs, CRLF line ends and invalid UTF-8 are
handled once: a BOM and CR before LF are dropped, invalid UTF-8 is a
:class:`UserError` naming the line. Only regular files are read (a FIFO would
block), up to a size cap, and each read is noted in the run's record of inputs
(:mod:`.reads`). Writes are atomic (temp file, then rename) and keep the umask;
output paths are checked before any work (:func:`output_path`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

from . import reads
from .errors import UserError, clip, os_error

MAX_INPUT_MB = 1024  # the default cap on one input file; XTREME_HARNESS_MAX_INPUT_MB raises it


_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def max_input_bytes() -> int:
    value = os.environ.get("XTREME_HARNESS_MAX_INPUT_MB", "")
    try:
        return int(float(value) * 2**20) if value.strip() else MAX_INPUT_MB * 2**20
    except ValueError:
        raise UserError(f"XTREME_HARNESS_MAX_INPUT_MB must be a number of megabytes, not '{clip(value)}'") from None


def check_regular(path: str | os.PathLike, what: str = "file") -> os.stat_result:
    """Stat ``path`` and refuse anything but a regular file (a FIFO would block a read forever)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{what} not found", path) from None
    except OSError as exc:
        raise os_error(exc, path, what) from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"expected a {what}, found a directory", path)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise UserError(f"expected a {what} (a regular file), found {kind}", path)
    return st


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of a regular file no larger than the input cap."""
    path = os.fspath(path)
    st = check_regular(path, what)
    cap = max_input_bytes()
    if st.st_size > cap:
        raise UserError(f"{what} is {st.st_size / 2**20:.0f} MB, more than the {cap / 2**20:.0f} MB an input may "
                        "have (set XTREME_HARNESS_MAX_INPUT_MB to allow more)", path)
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as exc:
        raise os_error(exc, path, what) from None
    reads.note_bytes(path, data)
    return data


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    path = os.fspath(path)
    raw = read_bytes(path, what)
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


TEMP_GLOB = ".*.tmp"  # what atomic_write_text's temporary files look like


def umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same folder, then rename: never a half-written file."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """The bytes version of :func:`atomic_write_text`.

    The file gets the mode any tool's new file gets (0666 less the umask);
    ``mkstemp`` alone would leave it private (0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)  # a legal name
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove the temporary files a killed writer left in ``folder`` (call it holding the folder's lock)."""
    n = 0
    for p in Path(folder).rglob(TEMP_GLOB):
        if p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            n += 1
    return n


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=False) + "\n")


SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def output_path(value: str | os.PathLike, what: str, folder: bool = False) -> Path:
    """An output path, checked before any work: lexically normalised (``a/x/../b`` never creates ``a/x``),
    not of the wrong kind, not under a file or a system folder, every component of a legal length."""
    text = os.path.normpath(os.path.expanduser(os.fspath(value)))
    p = Path(text)
    if any(len(os.fsencode(part)) > 255 for part in p.parts):
        raise UserError(f"{what}: a path component is longer than the file system allows (255 bytes)", text)
    absolute = Path(os.path.abspath(text))
    if any(str(absolute) == s or str(absolute).startswith(s + "/") for s in SYSTEM_FOLDERS):
        raise UserError(f"{what} lies in a system folder; expected a path of your own", text)
    try:
        st = os.stat(text)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise os_error(exc, text, what) from None
    if st is not None:
        if folder and not stat.S_ISDIR(st.st_mode):
            raise UserError(f"{what} must be a folder; found a file", text)
        if not folder and stat.S_ISDIR(st.st_mode):
            raise UserError(f"{what} must be a file path; found a folder", text)
        if not folder and not stat.S_ISREG(st.st_mode):
            raise UserError(f"{what} must be a regular file; found something else (a FIFO or a device)", text)
        return p
    for parent in absolute.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} lies under {parent}, which is a file, not a folder", text)
            break
    return p


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, doing: str, flag: str) -> Iterator[None]:
    """An exclusive lock on ``FOLDER/.lock`` while a run writes there: a second run stops at once, naming the
    pid of the first (the lock goes with the process, so a killed run never leaves it held)."""
    lock = Path(folder) / ".lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise os_error(exc, lock, flag) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise UserError(f"another run (pid {holder}) is {doing} this folder; wait for it to finish or "
                            f"choose another {flag}", os.fspath(folder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def safe_join(root: str | os.PathLike, *parts: str) -> Path:
    """Join under ``root`` and refuse any result outside it (ids or specs with ``../``)."""
    root_p = Path(root).resolve()
    out = root_p.joinpath(*parts).resolve()
    if out != root_p and root_p not in out.parents:
        raise UserError(f"path '{os.path.join(*parts)}' would leave the folder {root_p}")
    return out


def present(path: os.PathLike | str | None) -> bool:
    """Whether an optional input (a gold file) is there at all: a FIFO, a folder or a dangling link counts, so
    that reading it says what is wrong with it instead of skipping it silently. Its absence is noted in the
    record of inputs, so adding it later changes what a rerun reuses."""
    if path is None:
        return False
    if os.path.lexists(path):
        return True
    reads.note_absent(path)
    return False


def file_signature(path: str | os.PathLike) -> dict[str, Any]:
    """Size and sha256 of a data file, for the provenance record next to the checkpoints."""
    p = Path(path)
    st = check_regular(p, "data file")  # a FIFO would block the hash forever
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise os_error(exc, p, "data file") from None
    return {"file": str(p.resolve()), "bytes": st.st_size, "sha256": h.hexdigest()}
