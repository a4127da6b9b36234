"""Interruption, determinism and non-finite outputs: never lose finished work, never a silent wrong number."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny import HEADS, build_checkpoint, build_suite
from xtreme_harness.demo_data import write_demo_data

TASKS = "xnli,udpos,xquad,tatoeba"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("rob")
    data = write_demo_data(root / "data", languages=("en", "de"), size="tiny")
    suite = build_suite(root / "suite", tasks={"xnli", "udpos", "xquad", "encoder"})
    return root, data, suite


def eval_cmd(suite, data, out, tasks=TASKS):
    return [sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--model", str(suite), "--tasks", tasks,
            "--data-dir", str(data), "--output", str(out), "--no-progress", "--batch-size", "4"]


def _strip(results: dict) -> dict:
    r = dict(results)
    r.pop("created")
    r["config"] = {k: v for k, v in r["config"].items() if k != "output"}
    return r


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.parts[len(out.parts)] in ("predictions", "labels", "records")}


def test_two_runs_are_byte_identical(env):
    root, data, suite = env
    for name in ("a", "b"):
        proc = subprocess.run(eval_cmd(suite, data, root / name), capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    a, b = _files(root / "a"), _files(root / "b")
    assert a and a == b
    ra = json.loads((root / "a/results.json").read_text())
    rb = json.loads((root / "b/results.json").read_text())
    assert _strip(ra) == _strip(rb)


def test_kill_9_then_resume_scores_the_same(env):
    root, data, suite = env
    reference = json.loads((root / "a/results.json").read_text()) if (root / "a/results.json").exists() else None
    if reference is None:
        subprocess.run(eval_cmd(suite, data, root / "a"), check=True, capture_output=True)
        reference = json.loads((root / "a/results.json").read_text())
    out = root / "killed"
    proc = subprocess.Popen(eval_cmd(suite, data, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Kill once the first (task, language) has finished but the run has not.
    while time.time() < deadline and not list((out / "state").rglob("*.json")) if out.exists() else True:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {p.relative_to(out / "state") for p in (out / "state").rglob("*.json")}
    assert finished, "the run was killed before finishing anything; the test needs a slower run"
    for p in (out / "state").rglob("*.json"):
        json.loads(p.read_text())  # every state file is whole
    rerun = subprocess.run(eval_cmd(suite, data, out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "reusing finished result" in rerun.stderr
    assert not list(out.rglob("*.tmp")), "a temporary file of the killed run was left behind"
    resumed = json.loads((out / "results.json").read_text())
    assert _strip(resumed)["tasks"] == _strip(reference)["tasks"]
    assert _files(out) == _files(root / "a")


def test_nan_logits_are_an_error_not_a_number(tmp_path, env):
    import torch
    from safetensors.torch import load_file, save_file

    root, data, _ = env
    ck = build_checkpoint(tmp_path / "nan", "XLMRobertaForSequenceClassification", HEADS["xnli"][1])
    weights = load_file(str(ck / "model.safetensors"))
    key = next(k for k in weights if k.endswith("out_proj.bias"))
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, str(ck / "model.safetensors"), metadata={"format": "pt"})
    proc = subprocess.run(eval_cmd(ck, data, tmp_path / "o", tasks="xnli") + ["--languages", "de"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "non-finite" in proc.stderr or "NaN" in proc.stderr
    assert not (tmp_path / "o/state/xnli/de.json").exists()
