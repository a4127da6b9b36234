"""Data-parallel evaluation: two CPU processes on gloo give the files and figures of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tiny import build_suite
from xtreme_harness.demo_data import write_demo_data


def test_two_processes_match_one(tmp_path):
    data = write_demo_data(tmp_path / "data", languages=("en", "de"), size="tiny")
    suite = build_suite(tmp_path / "suite", tasks={"xnli", "panx", "xquad", "encoder"})
    args = ["--model", str(suite), "--tasks", "xnli,panx,xquad,tatoeba", "--data-dir", str(data), "--no-progress",
            "--device", "cpu"]
    env = dict(os.environ, XTREME_DIST_BACKEND="gloo", OMP_NUM_THREADS="1")
    single = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", *args,
                             "--output", str(tmp_path / "one")], capture_output=True, text=True, env=env)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--master_port", "29561", "-m", "xtreme_harness.cli_entry", "eval", *args,
                            "--output", str(tmp_path / "two")], capture_output=True, text=True, env=env)
    assert multi.returncode == 0, multi.stderr[-2000:]
    one = json.loads((tmp_path / "one/results.json").read_text())
    two = json.loads((tmp_path / "two/results.json").read_text())
    assert one["tasks"] == two["tasks"]
    for sub in ("predictions", "labels", "records"):
        files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one" / sub).rglob("*") if p.is_file())
        assert files
        for rel in files:
            assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
