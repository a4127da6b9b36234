"""transformers, imported by one thread at a time.

transformers replaces its own module in ``sys.modules`` with a lazy one at the end of its import, and CPython
hands a second thread that imports it meanwhile the object it found first (``import_ensure_initialized``
waits for the import to finish, then returns the half-made module), on which every lazy name is missing.
The run loop imports in two threads (the look-ahead loads the tokenizer while the main thread loads the
model), so the harness reaches transformers only through here. The lazy name is looked up under the same
lock, so two threads never import transformers' auto modules, which import each other, at once."""

from __future__ import annotations

import sys
import threading
from typing import Any

_IMPORTING = threading.RLock()


def transformers_module():
    """The fully imported ``transformers`` module."""
    with _IMPORTING:
        import transformers

        del transformers  # sys.modules holds the finished (lazy) module, whatever this name was bound to
        return sys.modules["transformers"]


def transformers_name(name: str) -> Any:
    """``transformers.<name>`` (a class or function, imported on first use), safe from any thread."""
    with _IMPORTING:
        return getattr(transformers_module(), name)
