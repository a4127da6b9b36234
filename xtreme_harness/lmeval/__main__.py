"""``python -m xtreme_harness.lmeval ARGS``: lm-eval's own command line with our tasks and model ready.

The same as ``lm_eval ARGS`` plus ``--include_path`` of the packaged xtreme_*
tasks (unless ARGS give one) and ``xtreme-encoder`` registered by import, for
environments where the start-up hook that serves the plain ``lm_eval``
command does not run (``python -S``, the package on ``PYTHONPATH`` only).
"""

from __future__ import annotations

import sys

from . import (
    encoder,  # noqa: F401  (registers xtreme-encoder)
    tasks_path,
)


def with_tasks(argv: list[str]) -> list[str]:
    """``argv`` with our task folder included, for the commands that take ``--include_path``."""
    if any(a == "--include_path" or a.startswith("--include_path=") for a in argv):
        return argv
    if argv and argv[0] in ("ls", "validate"):
        return [argv[0], "--include_path", str(tasks_path()), *argv[1:]]
    if argv and argv[0] == "run":
        return ["run", "--include_path", str(tasks_path()), *argv[1:]]
    if not argv or argv[0] in ("-h", "--help"):
        return argv
    return [*argv, "--include_path", str(tasks_path())]


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm-eval", *with_tasks(sys.argv[1:])]
    cli_evaluate()


if __name__ == "__main__":
    main()
