"""Every command the README's xtreme-leaderboard section shows, run on fixtures of each kind it names."""

from __future__ import annotations

import json
import shlex

from boardkit import lmeval_file
from conftest import ROOT
from test_leaderboard_board import LM_FIGURES, LM_FILE, sized_runs, two_passes, xtreme_r_runs
from test_leaderboard_seeds import study
from xtreme_harness.cli import leaderboard_main


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## xtreme-leaderboard\n", 1)[1]
    block = section.split("These commands, run by `tests/test_leaderboard_readme.py`", 1)[1].split("```", 2)[1]
    return [line for line in block.strip("\n").splitlines() if line.strip()]


def test_the_readme_leaderboard_commands_run(tmp_path, monkeypatch, capsys):
    study(tmp_path / "eval", seeds=(1, 2))
    sized_runs(tmp_path / "runs")
    test_pass, dev_pass = two_passes(tmp_path / "runs")
    test_pass.parent.rename(tmp_path / "runs" / "xlmr-large-test")
    lmeval_file(tmp_path / "lm-out" / "Qwen__Qwen2.5-0.5B-Instruct" / LM_FILE, LM_FIGURES)
    xtreme_r_runs(tmp_path / "runs-r")
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()
    assert len(commands) == 5 and all(c.startswith("xtreme-leaderboard ") for c in commands)
    for command in commands:
        assert leaderboard_main(shlex.split(command)[1:]) == 0, command
    board = json.loads((tmp_path / "board.json").read_text())
    cell = board["transfer_matrix"]["anli_plus"]["xnli"]
    assert {"delta", "sd", "seeds", "ci95", "significant"} <= set(cell)
    transfer = (tmp_path / "transfer.md").read_text()
    assert transfer.index("## Intermediate-task transfer across seeds") < \
        transfer.index("## Published intermediate-task transfer (Phang et al., 2020)")
    assert "2000 bootstrap resamples of the test examples" in transfer
    sizes = (tmp_path / "sizes.md").read_text()
    assert "| Model | Params | XTREME |" in sizes and "## Cross-lingual transfer gap by model size" in sizes
    assert "one model scored in 2 passes" in sizes
    mixed = (tmp_path / "mixed.html").read_text()
    assert "zero-shot prompted" in mixed and "fine-tuned transfer" in mixed and "Qwen/Qwen2.5-0.5B-Instruct" in mixed
    r = (tmp_path / "board-r.html").read_text()
    assert "<title>XTREME-R leaderboard</title>" in r and "No published XTREME-R rows are available" in r
