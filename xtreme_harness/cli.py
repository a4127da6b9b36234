"""Console scripts: argument parsing and exit codes only; the logic lives in the Python API.

Exit codes: 0 success, 2 usage error or bad input (one line on stderr, no
traceback), 1 an unexpected internal error (with traceback, as a bug).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see {self.prog} --help)")


def _run(prog: str, body: Callable[[], int | None]) -> int:
    try:
        return int(body() or 0)
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished work is kept and a rerun resumes it", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


# --- xtreme-score --------------------------------------------------------------------

def score_main(argv: Sequence[str] | None = None) -> int:
    def body():
        p = _Parser(prog="xtreme-score", description="Score prediction folders exactly as XTREME's evaluate.py does.")
        p.add_argument("--predictions", required=True, help="folder with <task>/test-<lang>.<ext> predictions")
        p.add_argument("--labels", required=True, help="folder with <task>/test-<lang>.<ext> gold labels")
        p.add_argument("--tasks", help="comma-separated task ids (default: every task present on both sides)")
        p.add_argument("--version", default="xtreme", choices=["xtreme", "xtreme-r"])
        p.add_argument("--json", dest="json_out", help="write the scores as JSON to this file")
        p.add_argument("--task-dir", action="append", default=[], help="extra folder of task spec YAMLs")
        args = p.parse_args(argv)
        from .data.io import atomic_write_json
        from .reporting import format_scores
        from .scoring import score_folders

        result = score_folders(args.predictions, args.labels, _csv(args.tasks), args.version, args.task_dir)
        if args.json_out:
            atomic_write_json(args.json_out, result)
        print(format_scores(result))
        return 0

    return _run("xtreme-score", body)


# --- xtreme-eval ---------------------------------------------------------------------

def eval_main(argv: Sequence[str] | None = None) -> int:
    def body():
        from .evaluation import main as eval_cli

        return eval_cli(argv, _Parser)

    return _run("xtreme-eval", body)


# --- xtreme-train --------------------------------------------------------------------

def train_main(argv: Sequence[str] | None = None) -> int:
    def body():
        from .train.cli import main as train_cli

        return train_cli(argv, _Parser)

    return _run("xtreme-train", body)


# --- xtreme-leaderboard --------------------------------------------------------------

def leaderboard_main(argv: Sequence[str] | None = None) -> int:
    def body():
        from .leaderboard.cli import main as lb_cli

        return lb_cli(argv, _Parser)

    return _run("xtreme-leaderboard", body)
