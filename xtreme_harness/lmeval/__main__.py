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
    """lm-eval's command line inside the harness's error boundary: a mistake in what the xtreme_* tasks read (a
    missing data folder, a wrong XTREME_LMEVAL_SPLIT) is one line and exit 2, never a traceback."""
    from ..io.boundary import run_command

    def body() -> int:
        from lm_eval.__main__ import cli_evaluate

        sys.argv = ["lm-eval", *with_tasks(sys.argv[1:])]
        try:
            cli_evaluate()
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return 0

    sys.exit(run_command("lm_eval", body))


if __name__ == "__main__":
    main()
