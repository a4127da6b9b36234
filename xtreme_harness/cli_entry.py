"""``python -m xtreme_harness.cli_entry <eval|score|train|leaderboard|data> ...``: the console scripts without installing them."""

from __future__ import annotations

import sys

from . import cli

COMMANDS = {"eval": cli.eval_main, "score": cli.score_main, "train": cli.train_main,
            "leaderboard": cli.leaderboard_main, "data": cli.data_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m xtreme_harness.cli_entry {{{','.join(COMMANDS)}}} [args]", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
