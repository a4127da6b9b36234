"""The one error boundary of every entry point (each command, ``python -m xtreme_harness.lmeval``).

A user's mistake is one line and exit 2, never a traceback; so is a refusal
of the system (a full disk, a read-only folder) that names a path. Ctrl-C,
SIGTERM and SIGHUP stop a run with one line and 128 + the signal, after the
cleanup the interruption starts (which a second signal never interrupts),
and a write that must be whole (:func:`uninterrupted`) finishes first. A
closed output pipe (``xtreme-eval ... | head``) never stops a run: what would
have been printed is dropped and the work finishes into its files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from typing import Callable, Iterator

from .errors import UserError, os_error

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                            getattr(signal, "SIGHUP", None)) if s is not None)


class Stopped(BaseException):
    """A run stopped by SIGTERM or SIGHUP (SIGINT is a KeyboardInterrupt, as Python raises it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    """The first signal stops the run; later ones are ignored so that the cleanup it starts (results described,
    temporary files removed, one line printed) is never itself interrupted into a traceback."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


class _Quiet:
    """A text stream that, once its reader has gone (a closed pipe), drops what is written instead of raising."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_pipe = False

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _gone(self) -> None:
        self.closed_pipe = True
        try:  # later flushes (at interpreter exit too) go nowhere, silently
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text):
        if self.closed_pipe:
            return len(text)
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):
            self._gone()
            return len(text)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EIO):  # EIO: the terminal went away
                raise
            self._gone()
            return len(text)

    def flush(self):
        if self.closed_pipe:
            return
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            self._gone()
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EIO):
                raise
            self._gone()


def run_command(prog: str, body: Callable[[], int | None]) -> int:
    """Run ``body`` inside the boundary; its exit code (see the module docstring)."""
    main = threading.current_thread() is threading.main_thread()
    ours = main and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    old = {s: signal.getsignal(s) for s in SIGNALS} if ours else {}
    if ours:
        for s in SIGNALS:
            signal.signal(s, _on_signal)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Quiet(sys.stdout), _Quiet(sys.stderr)
    try:
        return _report(prog, body)
    finally:
        sys.stdout, sys.stderr = streams
        if ours:  # once stopped, stay deaf until exit
            for s, handler in old.items():
                if signal.getsignal(s) is _on_signal:
                    signal.signal(s, handler)


# A system refusal that carries no file name (a full disk met by ``write``): one line all the same.
_REASONS = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
            errno.EDQUOT: "disk quota exceeded", errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}


def _report(prog: str, body: Callable[[], int | None]) -> int:
    try:
        return int(body() or 0)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished work is kept and a rerun resumes it", file=sys.stderr)
        return 130
    except Stopped as exc:
        name = signal.Signals(exc.signum).name
        print(f"{prog}: stopped by {name}; finished work is kept and a rerun resumes it", file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:  # the system refused a path the user named (read-only, full, too long ...)
        if exc.filename is not None:
            print(f"{prog}: error: {os_error(exc, exc.filename, 'path')}", file=sys.stderr)
            return 2
        if exc.errno in _REASONS:
            print(f"{prog}: error: {_REASONS[exc.errno]} (while writing its output)", file=sys.stderr)
            return 2
        raise


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block (a checkpoint or state write) is done, then hand the signal
    to the handler that was in place: an interruption never leaves half a checkpoint behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in SIGNALS}
    held = [s for s, h in old.items() if callable(h)]
    pending: list[int] = []

    def hold(signum, frame):
        pending.append(signum)

    for s in held:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, old[s])
    if pending:
        old[pending[0]](pending[0], None)  # raises as the interrupted handler would have


__all__ = ["Stopped", "run_command", "uninterrupted"]
