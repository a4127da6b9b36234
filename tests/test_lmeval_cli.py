"""The real ``lm_eval`` command: the README's commands, the encoder suite on ``--tasks xtreme``, the version floor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from tiny import build_causal_lm, build_suite

pytest.importorskip("lm_eval")

BIN = Path(sys.executable).parent
SEVEN = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa")
FLOOR_DIR = Path(os.environ.get("XTREME_LMEVAL_FLOOR", Path(sys.prefix) / "lm-eval-floor"))


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XTREME_LMEVAL", "XTREME_HARNESS"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", LM_HARNESS_CACHE_PATH=str(tmp / "lm-cache"), TOKENIZERS_PARALLELISM="false")
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def readme_commands() -> list[str]:
    """The command block of the README's lm-eval section, one shell command per line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Inside lm-evaluation-harness", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return [line for line in block.strip("\n").splitlines() if line.strip()]


def results_of(folder: Path) -> dict:
    (path,) = folder.glob("*/results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """Every command of the README's lm-eval block, run by bash in a folder holding what the block names."""
    from xtreme_harness.demo_data import write_demo_data

    work = tmp_path_factory.mktemp("readme")  # not inside a git checkout
    write_demo_data(work / "download", ["en", "de"], seed=0, size="tiny")
    build_suite(work / "suite", SEVEN)
    build_causal_lm(work / "my-llm", [(work / "download/xnli/test-en.tsv").read_text()])
    runs = []
    shell = ["set -e"]
    for k, line in enumerate(readme_commands()):
        shell.append(f"{line} > out-{k}.txt 2> err-{k}.txt")
        runs.append(line)
    proc = subprocess.run(["bash", "-c", "\n".join(shell)], cwd=work, env=_env(work), capture_output=True, text=True,
                          timeout=1500)
    outputs = [((work / f"out-{k}.txt").read_text() if (work / f"out-{k}.txt").exists() else "",
                (work / f"err-{k}.txt").read_text() if (work / f"err-{k}.txt").exists() else "")
               for k in range(len(runs))]
    if proc.returncode:  # set -e stopped at the last command that left an output file
        last = max(k for k in range(len(runs)) if (work / f"err-{k}.txt").exists())
        pytest.fail(f"README command failed: {runs[last]}\n{outputs[last][1][-3000:]}")
    return work, dict(zip(runs, outputs))


def _command(runs: dict, pattern: str) -> tuple[str, str]:
    (hit,) = [v for k, v in runs.items() if re.search(pattern, k)]
    return hit


def test_readme_block_covers_the_plain_lm_eval_commands():
    cmds = readme_commands()
    assert any(c.startswith("lm_eval --model xtreme-encoder") and "--tasks xtreme " in c for c in cmds)
    assert any("--num_fewshot" in c for c in cmds) and any("--cache_requests true" in c for c in cmds)
    assert any(c.startswith("python -m xtreme_harness.lmeval") for c in cmds)


def test_plain_lm_eval_runs_xtreme_on_the_encoder_suite(readme_run):
    """``lm_eval --tasks xtreme`` with the suite: lm-eval's figures are native xtreme-eval's, for all seven tasks."""
    from xtreme_harness.run import evaluate

    work, runs = readme_run
    out, err = _command(runs, r"^lm_eval --model xtreme-encoder .*--tasks xtreme ")
    native = evaluate(str(work / "suite"), tasks=",".join(SEVEN), languages="en,de", data_dir=str(work / "download"),
                      output=str(work / "native"), device="cpu", progress=False)
    res = results_of(work / "lm-out")
    groups = {f"xtreme_{t}" for t in SEVEN}
    assert set(res["groups"]) == groups and set(res["group_subtasks"]["xtreme"]) == groups
    compared = 0
    for task in SEVEN:
        figures = native["tasks"][task]
        for metric in ("accuracy", "f1", "exact_match"):
            for lang, value in figures.get(metric, {}).items():
                lm = res["results"][f"xtreme_{task}_{lang}"]
                (key,) = [k for k in lm if k.startswith(f"{metric},")]
                assert lm[key] == value, (task, lang, metric)
                compared += 1
    assert compared == 2 + 2 + 2 + 2 + 4 + 4 + 2  # XNLI, PAWS-X, POS, NER: en+de; QA: EM and F1; TyDiQA: en
    # the group mean runs over the languages present, and our warning names the ones left out, once per task
    assert res["groups"]["xtreme_panx"]["f1,tags"] == pytest.approx(native["tasks"]["panx"]["avg_f1"])
    left_out = [line for line in err.splitlines() if "left out" in line]
    assert len(left_out) == len(SEVEN) and any("xtreme_udpos: 31 language(s) left out" in x for x in left_out)
    assert "fatal: not a git repository" not in err and "Custom kwargs" not in err
    # provenance, and logged samples that show what was scored
    meta = res["configs"]["xtreme_panx_de"]["metadata"]
    assert meta["xtreme_split"] == "test" and meta["xtreme_data_dir"] == str((work / "download").resolve())
    assert meta["xtreme_data_fingerprint"] and meta["xtreme_harness_version"]
    (samples,) = (work / "lm-out").glob("*/samples_xtreme_udpos_de_*.jsonl")
    first = json.loads(samples.read_text().splitlines()[0])
    assert isinstance(first["filtered_resps"][0], list) and len(first["filtered_resps"][0]) == len(first["doc"]["tokens"])


def test_readme_prompted_llm_few_shot_and_cached_dev(readme_run):
    work, runs = readme_run
    out, _ = _command(runs, r"--model hf ")
    assert "xtreme_xnli_de" in out and "xtreme_mlqa_de" in out and "|     2|" in out  # two shots
    out, err = _command(runs, r"XTREME_LMEVAL_SPLIT=dev")
    assert "xtreme_pawsx_de" in out and list((work / "lm-cache").glob("requests-xtreme_pawsx_de-*-xtreme-dev-*"))
    out, _ = _command(runs, r"^lm_eval ls tasks")
    assert "xtreme_udpos_de" in out and "xtreme_panx_en" in out
    out, err = _command(runs, r"^python -m xtreme_harness.lmeval ")
    assert "xtreme_udpos_de" in out and "fatal: not a git repository" not in err
    _command(runs, r"^xtreme-eval --backend lm-eval")
    doc = json.loads((work / "lm-results/results.json").read_text())
    assert set(doc["tasks"]) == {"xnli", "udpos"} and doc["model"]["protocol"] == "fine-tuned transfer"


def test_start_up_hook_is_lazy_and_can_be_turned_off(tmp_path):
    probe = ("import sys, lm_eval.api.registry as r; "
             "print('xtreme-encoder' in r.model_registry, 'hf' in r.model_registry, "
             "'xtreme_harness' in sys.modules)")
    on = subprocess.run([sys.executable, "-c", probe], env=_env(tmp_path), capture_output=True, text=True)
    assert on.stdout.split() == ["True", "True", "False"], on.stderr  # registered, lm-eval's own kept, nothing loaded
    off = subprocess.run([sys.executable, "-c", probe], env=_env(tmp_path, XTREME_HARNESS_LM_EVAL_PLUGIN="0"),
                         capture_output=True, text=True)
    assert off.stdout.split()[0] == "False"
    pth = Path(next(p for p in sys.path if p.endswith("site-packages"))) / "xtreme_harness_lm_eval.pth"
    assert pth.read_text() == "import _xtreme_harness_lm_eval\n"


# --- the version floor -------------------------------------------------------------------------------

def floor_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (floor,) = re.findall(r'"lm-eval>=([0-9.]+),', text)
    return floor


def test_makefile_installs_the_declared_floor():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"LMEVAL_FLOOR ?= {floor_version()}\n" in makefile


def test_floor_version_loads_every_task_and_gives_the_same_figures(readme_run, tmp_path):
    """The oldest lm-eval the package allows: its TaskManager loads every generated YAML; the suite run agrees."""
    if not (FLOOR_DIR / "lm_eval").is_dir():
        pytest.skip(f"no lm-eval {floor_version()} at {FLOOR_DIR} (make setup installs it)")
    work, _ = readme_run
    env = _env(tmp_path, PYTHONPATH=str(FLOOR_DIR), XTREME_LMEVAL_DATA=str(work / "download"))
    script = ("import json, lm_eval\n"
              "from lm_eval.tasks import TaskManager\n"
              "from xtreme_harness.lmeval import tasks_path\n"
              "tm = TaskManager(include_path=str(tasks_path()), include_defaults=False)\n"
              "loaded = tm.load(sorted(tm.all_subtasks))\n"
              "groups = tm.load(['xtreme'])['groups']\n"
              "print(json.dumps({'version': lm_eval.__version__, 'tasks': sorted(loaded['tasks']),\n"
              "                  'groups': sorted(groups),\n"
              "                  'index': sorted(tm.all_subtasks)}))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["version"] == floor_version()
    yamls = {p.stem for p in (ROOT / "xtreme_harness/lmeval/tasks").glob("xtreme_*_*.yaml")}
    assert set(got["tasks"]) == set(got["index"]) == yamls
    from xtreme_harness.tasks.registry import registry

    assert len(yamls) == sum(len(registry()[t].all_languages()) for t in SEVEN)
    assert {f"xtreme_{t}" for t in SEVEN} | {"xtreme"} <= set(got["groups"])
    cmd = [sys.executable, "-m", "lm_eval", "--model", "xtreme-encoder", "--model_args",
           f"pretrained={work / 'suite'}", "--include_path", str(ROOT / "xtreme_harness/lmeval/tasks"),
           "--tasks", "xtreme", "--output_path", str(tmp_path / "floor-out")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    floor, current = results_of(tmp_path / "floor-out"), results_of(work / "lm-out")
    assert floor["lm_eval_version"] == floor_version()
    figures = {k: {m: v for m, v in r.items() if "," in m and "stderr" not in m} for k, r in floor["results"].items()}
    assert figures == {k: {m: v for m, v in r.items() if "," in m and "stderr" not in m}
                       for k, r in current["results"].items()}
