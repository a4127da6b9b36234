"""A results file the real ``lm_eval`` writes (tiny encoder suite, XNLI and XQuAD in two languages) on a board,
beside the native figures: the hand-made fixtures of test_leaderboard_board.py have this shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny import build_suite
from xtreme_harness.cli import leaderboard_main

pytest.importorskip("lm_eval")


@pytest.mark.slow
def test_a_real_lm_eval_results_file_on_the_board(tmp_path):
    from xtreme_harness.demo_data import write_demo_data
    from xtreme_harness.run import evaluate

    write_demo_data(tmp_path / "download", ["en", "de"], seed=0, size="tiny")
    build_suite(tmp_path / "suite", ("xnli", "xquad"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XTREME_LMEVAL", "XTREME_HARNESS"))}
    env.update(XTREME_LMEVAL_DATA=str(tmp_path / "download"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", LM_HARNESS_CACHE_PATH=str(tmp_path / "lm-cache"),
               TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.lmeval", "--model", "xtreme-encoder",
                           "--model_args", "pretrained=suite/", "--tasks", "xtreme_xnli,xtreme_xquad_en,xtreme_xquad_de",
                           "--device", "cpu", "--output_path", "lm-out/"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (written,) = (tmp_path / "lm-out").glob("*/results_*.json")
    out = tmp_path / "board.json"
    assert leaderboard_main([str(tmp_path / "lm-out"), "--reference", "none", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["lm_eval"]["model"] == "xtreme-encoder" and row["protocol"] == "fine-tuned transfer"
    assert row["sources"] == [str(written)] and row["partial"] is True
    native = evaluate(str(tmp_path / "suite"), tasks="xnli,xquad", languages="en,de",
                      data_dir=str(tmp_path / "download"), output=str(tmp_path / "native"), device="cpu",
                      progress=False)
    for task in ("xnli", "xquad"):
        for fig, by_lang in row["tasks"][task]["per_language"].items():
            assert by_lang == pytest.approx(native["tasks"][task][fig], abs=1e-9), (task, fig)
        assert row["tasks"][task]["avg_metric"] == pytest.approx(native["tasks"][task]["avg_metric"], abs=1e-9)
        assert set(row["tasks"][task]["languages"]) == {"en", "de"}
