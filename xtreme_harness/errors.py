"""The one error type for user mistakes: the CLI prints it as one line and exits 2."""

from __future__ import annotations

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
