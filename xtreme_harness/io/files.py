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
import contextvars
import errno
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


# --- where writes may go ------------------------------------------------------------------------
# A writer declares the folder its files belong to (``confined_to``): every file it then creates or replaces
# must lie in that folder, reached without following a link out of it, and is listed as written (so that
# ``--overwrite`` can later remove what the harness wrote, and nothing else). No file is ever written through a
# symbolic link, confined or not.

class _Root:
    def __init__(self, folder: str, log: str | None):
        self.folder = folder
        self.real = os.path.realpath(folder)
        self.written: list[str] = []  # paths relative to the folder, in the order first written
        self.log = os.path.join(folder, log) if log else None  # the list kept on disk, a line a file


_ROOTS: contextvars.ContextVar[tuple[_Root, ...]] = contextvars.ContextVar("xtreme_write_roots", default=())


WRITTEN_LOG = ".xtreme-written"  # the files the harness wrote into a folder, one relative path a line


@contextlib.contextmanager
def confined_to(folder: str | os.PathLike, log: bool = False) -> Iterator[list[str]]:
    """Writes inside the block must stay in ``folder``; yields the list of files written there (relative). With
    ``log`` the list is also appended, as it grows, to ``FOLDER/.xtreme-written`` (a killed run loses none)."""
    root = _Root(os.fspath(folder), WRITTEN_LOG if log else None)
    token = _ROOTS.set(_ROOTS.get() + (root,))
    try:
        yield root.written
    finally:
        _ROOTS.reset(token)


def _nearest_existing(path: str) -> str:
    while path and not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path or "."


def check_destination(path: str | os.PathLike, what: str = "output file") -> None:
    """Refuse to create or replace ``path`` if it is a symbolic link, or if (within :func:`confined_to`) it
    would land outside the folder it belongs to by following a link."""
    p = os.path.abspath(os.fspath(path))
    if os.path.islink(p):
        raise UserError(f"{what} is a symbolic link; the harness never writes through a link (remove it, or choose "
                        "another path)", p)
    roots = _ROOTS.get()
    if not roots:
        return
    root = roots[-1]
    folder = os.path.abspath(root.folder)

    def inside(path: str, top: str) -> bool:
        return path == top or path.startswith(top.rstrip(os.sep) + os.sep)

    if not inside(p, folder):
        raise UserError(f"{what} lies outside {root.folder}, the folder this run writes to", p)
    existing = _nearest_existing(os.path.dirname(p))
    if inside(existing, folder):  # what exists below the folder must not lead out of it; the rest is made anew
        real = os.path.realpath(existing)
        if not inside(real, root.real):
            raise UserError(f"{what} would be written outside {root.folder} through a symbolic link ({existing} -> "
                            f"{real}); the harness writes only inside the folder a file belongs to", p)


def _note_written(path: str) -> None:
    roots = _ROOTS.get()
    if not roots:
        return
    root = roots[-1]
    rel = os.path.relpath(os.path.realpath(path), root.real)
    if rel.startswith("..") or rel in root.written:
        return
    root.written.append(rel)
    if root.log and rel != WRITTEN_LOG:
        try:
            fd = os.open(root.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666 & ~umask())
            try:
                os.write(fd, (rel + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise write_error(exc, root.log, "list of written files") from None


def written_files(folder: str | os.PathLike) -> list[str] | None:
    """What the harness recorded writing into ``folder`` (relative paths), or None where it kept no list."""
    log = os.path.join(os.fspath(folder), WRITTEN_LOG)
    if not os.path.isfile(log) or os.path.islink(log):
        return None
    return list(dict.fromkeys(ln for ln in read_lines(log, "list of written files") if ln.strip()))


def make_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``mkdir -p``, never through a link out of the folder being written (:func:`confined_to`)."""
    check_destination(path, what)
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, path, what) from None
    return Path(path)


def write_error(exc: OSError, path: str | os.PathLike, what: str = "output file") -> UserError:
    """A system refusal while writing (a full disk, a read-only folder, a quota): one line naming the path."""
    return os_error(exc, exc.filename if exc.filename else path, what)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """The bytes version of :func:`atomic_write_text`.

    The file gets the mode any tool's new file gets (0666 less the umask);
    ``mkstemp`` alone would leave it private (0600). It is never written
    through a link, stays in the folder it belongs to (:func:`confined_to`),
    and a refusal of the system (full disk, read-only folder) is one line
    naming it, with nothing half-written left behind.
    """
    path = Path(path)
    check_destination(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)  # a legal name
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise write_error(exc, path) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _note_written(os.fspath(path))


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove the temporary files a killed writer left in ``folder`` (call it holding the folder's lock)."""
    import fnmatch

    n = 0
    for dirpath, _, filenames in os.walk(folder):  # never into a linked folder (followlinks=False)
        for name in fnmatch.filter(filenames, TEMP_GLOB):
            p = os.path.join(dirpath, name)
            if os.path.isfile(p) and not os.path.islink(p):
                os.unlink(p)
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
    while True:
        try:  # never through a link: a linked .lock would be truncated wherever it points
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UserError(f"{flag}: the lock file is a symbolic link; the harness never writes through a "
                                "link (remove it)", lock) from None
            raise os_error(exc, lock, flag) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise UserError(f"another run (pid {holder}) is {doing} this folder; wait for it to finish or "
                            f"choose another {flag}", os.fspath(folder)) from None
        try:  # the holder before us removed the file as it finished: lock the file that is there now
            same = os.fstat(fd).st_ino == os.stat(lock, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:  # a finished run leaves no .lock behind (removed while still held, so no one else holds it)
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)  # closing releases the lock


def safe_join(root: str | os.PathLike, *parts: str) -> Path:
    """Join under ``root`` and refuse any result outside it (ids or specs with ``../``)."""
    root_p = Path(root).resolve()
    lexical = Path(os.path.normpath(root_p.joinpath(*parts)))
    if lexical != root_p and root_p not in lexical.parents:
        raise UserError(f"path '{os.path.join(*parts)}' would leave the folder {root_p}")
    out = lexical.resolve()
    if out != root_p and root_p not in out.parents:
        raise UserError(f"path '{os.path.join(*parts)}' leads out of the folder {root_p} through a symbolic link; "
                        "the harness writes only inside the folder a file belongs to", lexical)
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
