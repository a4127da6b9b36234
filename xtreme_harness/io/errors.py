"""The one error type for user mistakes: the CLI prints it as one line and exits 2."""

from __future__ import annotations

import errno
import os


class UserError(Exception):
    """A mistake in what the user handed us (a file, a flag, a checkpoint).

    ``path`` and ``line`` (1-based) locate the problem so the message can say
    exactly where to look; the CLI never shows a traceback for this type.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = clip(self.path, 400) + (f":{self.line}" if self.line is not None else "") + ": "
        return where + clip(" ".join(self.message.split("\n")), MAX_MESSAGE)


MAX_MESSAGE = 1200  # a message quoting a 2 GB "line" must still be one readable line


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut in the middle to at most ``limit`` characters: quoted input never floods a message."""
    text = str(text)
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    return f"{text[:head]}…[{len(text) - limit} characters]…{text[len(text) - (limit - head):]}"


def os_error(exc: OSError, path: str | os.PathLike | None = None, what: str = "file") -> UserError:
    """The one-line message for an OS refusal of a path the user named (never a traceback)."""
    path = os.fspath(path if path is not None else (exc.filename or ""))
    reasons = {errno.ENAMETOOLONG: "a path component is longer than the file system allows (255 bytes)",
               errno.ELOOP: "symbolic link loop (or too many levels of links)",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.ENOTDIR: "a component of the path is a file, not a folder",
               errno.EISDIR: "expected a file, found a folder", errno.ENOENT: "not found",
               errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
               errno.EEXIST: "already exists and is not a folder"}
    reason = reasons.get(exc.errno, exc.strerror or type(exc).__name__)
    return UserError(f"{what}: {reason}", path or None)

