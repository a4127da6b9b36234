"""The README's commands, run as typed: the headline, the public checkpoints manifest and the trainer's block.

The other blocks are run beside the code they show (``test_data_download``, ``test_lmeval_cli``,
``test_leaderboard_readme``, ``test_study``); :func:`test_every_readme_command_is_run_by_a_test` keeps that
list whole, so a command added to the README without a test fails here. Placeholders the README writes in
capitals (``MODEL``) become tiny stand-ins; toy-scale flags are added to training commands; nothing else
changes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

README = ROOT / "README.md"

# Blocks (by the heading above them) whose commands a test runs as the README writes them.
RUN_BY = {
    "# xtreme-harness": "test_readme_commands.py::test_the_headline_commands_run_as_typed",
    "## Quickstart: two commands": ".ci/run (make test) and tests/test_demo.py (the demo's pipeline)",
    "## Getting the data": "test_data_download.py::test_the_readme_commands_run",
    "## Comparing public checkpoints": "test_readme_commands.py::test_the_public_checkpoint_commands_run_offline",
    "## Inside lm-evaluation-harness": "test_lmeval_cli.py (the README block, line by line)",
    "## xtreme-train: STILTs checkpoints": "test_readme_commands.py::test_the_training_commands_run",
    "## xtreme-leaderboard": "test_leaderboard_readme.py",
    "## Running a STILTs study": "test_study.py::test_the_readme_study_commands_run",
}
COMMAND = re.compile(r"^(xtreme-[a-z]+|lm_eval|python|make|accelerate|torchrun|export|XTREME_\w+=|HF_\w+=)\b")


def blocks() -> list[tuple[str, str, list[str]]]:
    """(heading, fence info, lines) of every fenced block, with the nearest heading of level 1 or 2 above it."""
    out, heading, inside, info, lines = [], "", False, "", []
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            if inside:
                out.append((heading, info, lines))
            inside, info, lines = not inside, line[3:].strip(), []
        elif inside:
            lines.append(line)
        elif re.match(r"^#{1,2} ", line):
            heading = line.strip()
    return out


def commands(heading: str, nth: int = 0) -> list[str]:
    """The command lines of the ``nth`` shell block under ``heading`` (a ``#`` comment dropped)."""
    found = [lines for h, info, lines in blocks() if h == heading and not info
             and any(COMMAND.match(x.strip()) for x in lines)]
    return [line.split("  #")[0].strip() for line in found[nth] if COMMAND.match(line.strip())]


def yaml_block(heading: str) -> str:
    return next("\n".join(lines) + "\n" for h, info, lines in blocks() if h == heading and info == "yaml")


def is_synopsis(line: str) -> bool:
    """A form with alternatives or optional parts (``--tasks all|T1,T2 [--languages L1,L2]``), not a command."""
    return "|" in line or "[" in line or "..." in line


def test_every_readme_command_is_run_by_a_test():
    unrun = [(h, line) for h, info, lines in blocks() if not info for line in lines
             if COMMAND.match(line.strip()) and not is_synopsis(line) and h not in RUN_BY]
    assert not unrun, f"README commands no test runs (add them to a test and to RUN_BY): {unrun}"
    for heading in RUN_BY:
        assert any(h == heading for h, _, _ in blocks()), f"RUN_BY names a README heading that is gone: {heading}"


def test_every_flag_a_synopsis_names_is_accepted(capsys):
    """The README's forms (``xtreme-eval --model PATH|... [--languages L1,L2]``) name only real flags."""
    from xtreme_harness import cli

    mains = {"xtreme-eval": cli.eval_main, "xtreme-score": cli.score_main, "xtreme-data": cli.data_main,
             "xtreme-train": cli.train_main, "xtreme-leaderboard": cli.leaderboard_main}
    helps: dict[tuple[str, ...], str] = {}
    checked = 0
    for _, info, lines in blocks():
        if info:
            continue
        words: list[str] = []
        for raw in lines:
            line = raw.split("  #")[0].strip()
            if COMMAND.match(line):
                words = line.split() if is_synopsis(line) and line.split()[0] in mains else []
            elif not (raw[:1].isspace() and line[:1] in "[-"):  # a synopsis's continuation line keeps its command
                words = []
            if not words:
                continue
            sub = tuple(w for w in words[1:3] if re.fullmatch(r"[a-z]+", w) and w not in ("all", "none"))[:1]
            key = (words[0], *sub)
            if key not in helps:
                with pytest.raises(SystemExit):
                    mains[words[0]]([*sub, "--help"])
                helps[key] = capsys.readouterr().out
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line):
                assert flag in helps[key], f"{line!r}: {flag} is not a flag of {' '.join(key)}"
                checked += 1
    assert checked >= 20


# --- shared fixtures -----------------------------------------------------------------------------

def shims(folder: Path) -> Path:
    """``xtreme-eval`` and friends on PATH as this interpreter runs them (the installed scripts do the same)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sub in (("xtreme-eval", "eval"), ("xtreme-leaderboard", "leaderboard"), ("xtreme-train", "train"),
                      ("xtreme-data", "data"), ("xtreme-score", "score")):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xtreme_harness.cli_entry {sub} "$@"\n')
        shim.chmod(0o755)
    return folder


def bash(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{shims(tmp_path / 'bin')}{os.pathsep}{os.environ.get('PATH', '')}",
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            **extra}


# --- the headline --------------------------------------------------------------------------------

def test_the_headline_commands_run_as_typed(tmp_path):
    """Both headline commands, one after the other in one folder: each gets its own default output folder."""
    from tiny import build_suite

    from xtreme_harness.demo_data import write_demo_data
    from xtreme_harness.tasks.registry import resolve_tasks

    lines = commands("# xtreme-harness")
    assert lines == ["xtreme-eval --model ckpt/ --tasks all", "xtreme-eval --model ckpt/ --tasks all --version xtreme-r"]
    work = tmp_path / "work"
    build_suite(work / "ckpt")
    write_demo_data(work / "download", ["en", "de", "zh"], size="tiny")  # zh: XCOPA has neither en nor de
    env = environment(tmp_path)
    for line in lines:
        bash(line, work, env)
    for version, folder in (("xtreme", "ckpt-xtreme"), ("xtreme-r", "ckpt-xtreme-r")):
        res = json.loads((work / "xtreme-results" / folder / "results.json").read_text())
        assert res["config"]["version"] == version
        assert set(res["tasks"]) == {t.task for t in resolve_tasks("all", version)}, (version, sorted(res["tasks"]))
        assert all(t["n"] for t in res["tasks"].values()), {k: t["n"] for k, t in res["tasks"].items()}
    assert sorted(p.name for p in (work / "xtreme-results").iterdir()) == ["ckpt-xtreme", "ckpt-xtreme-r"]


# --- public checkpoints, offline -----------------------------------------------------------------

def test_the_public_checkpoint_commands_run_offline(tmp_path):
    """The manifest of public hub ids and its two commands, on a hub cache holding tiny stand-ins."""
    from test_hub import CONLL, add_to_cache, sha
    from tiny import build_checkpoint, build_tokenizer

    from xtreme_harness.demo_data import write_demo_data

    hub = tmp_path / "hub"
    tok = build_tokenizer(hub / "tok")
    heads = {"joeddav/xlm-roberta-large-xnli": ("XLMRobertaForSequenceClassification",
                                                ["contradiction", "neutral", "entailment"], 2),
             "FacebookAI/xlm-roberta-large-finetuned-conll03-english": ("XLMRobertaForTokenClassification", CONLL, 2),
             "deepset/xlm-roberta-large-squad2": ("XLMRobertaForQuestionAnswering", None, 2),
             "FacebookAI/xlm-roberta-large": ("XLMRobertaModel", None, 24)}  # layer 14 of 24, as the manifest says
    for i, (repo, (cls, labels, layers)) in enumerate(heads.items()):
        folder = build_checkpoint(hub / repo.replace("/", "--"), cls, labels, layers=layers, seed=i, tokenizer=tok)
        add_to_cache(hub / "cache", repo, folder, sha(repo))
    work = tmp_path / "work"
    write_demo_data(work / "download", ["en", "de"], size="tiny")
    manifest = yaml_block("## Comparing public checkpoints")
    assert manifest.startswith("# public.yaml\n")
    (work / "public.yaml").write_text(manifest, encoding="utf-8")
    env = environment(tmp_path, HF_HUB_CACHE=str(hub / "cache"))
    lines = commands("## Comparing public checkpoints")
    assert [line.split()[0] for line in lines] == ["xtreme-eval", "xtreme-leaderboard"]
    for line in lines:
        bash(line, work, env)
    res = json.loads((work / "runs/public/results.json").read_text())
    assert res["model"]["name"] == "public XLM-R checkpoints"
    assert set(res["tasks"]) == {"xnli", "panx", "xquad", "mlqa", "tatoeba"}
    assert res["model"]["tasks"]["xnli"]["commit"] == sha("joeddav/xlm-roberta-large-xnli")
    assert res["tasks"]["tatoeba"]["stats"]["de"]["layer"] == 14  # the manifest's defaults
    board = (work / "board.md").read_text()
    assert "| public XLM-R checkpoints |" in board


# --- the trainer ---------------------------------------------------------------------------------

TOY = ["--max-steps", "1", "--batch-size", "4", "--max-length", "64", "--precision", "no", "--device", "cpu",
       "--no-progress"]


def test_the_training_commands_run(tmp_path, monkeypatch, hf_cache, one_torch_thread):
    """Every command of the trainer's block, in one folder: the tiny demo encoder for MODEL and XLM-R, the
    intermediate data staged first from local copies of the hub repositories, toy-scale training."""
    from studykit import demo_study_inputs, intermediate_hub

    from xtreme_harness.cli import train_main

    paths = demo_study_inputs(tmp_path)
    intermediate_hub(tmp_path / "hub", n=8)
    (tmp_path / "copa").mkdir()
    shutil.copy(paths["data"] / "xcopa" / "train-en.jsonl", tmp_path / "copa" / "train.jsonl")
    (tmp_path / "recipe.yaml").write_text(yaml_block("## xtreme-train: STILTs checkpoints")
                                          .replace("xlm-roberta-large", "base"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lines = commands("## xtreme-train: STILTs checkpoints")
    assert len(lines) == 8
    staging = [line for line in lines if line.startswith("xtreme-train data ")]
    ordered = staging + [line for line in lines if line not in staging]  # the data first, as a study would
    local = ["--intermediate-data-dir", "stilts-data", "--intermediate-source", "local"]
    for line in ordered:
        argv = shlex.split(line.replace("MODEL", "base"))[1:]
        if argv[0] == "data":
            argv += ["--hub-copies", "hub"]
        elif argv[0] in ("run", "sweep"):
            argv += TOY + (local if "--targets" not in argv or "xcopa" not in argv else [])
            if "--data-dir" not in argv:
                argv += ["--data-dir", "download"]
        rc = train_main(argv)
        assert rc == 0, line
    suite = tmp_path / "runs" / "anli"
    assert {p.name for p in suite.iterdir() if (p / "config.json").is_file()} >= {
        "encoder", "xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa"}
    assert (tmp_path / "runs/x/xnli/config.json").is_file() and (tmp_path / "runs/x/panx/config.json").is_file()
    sweep = json.loads((tmp_path / "runs/sweep/sweep.json").read_text())
    assert sorted(s["path"] for s in sweep["suites"]) == ["anli_plus", "baseline", "mnli+qqp", "squad_v2"]
    study = json.loads((tmp_path / "runs/study/sweep.json").read_text())
    assert len(study["suites"]) == 6 and {s["status"] for s in study["suites"]} == {"finished"}
    assert (tmp_path / "runs/xcopa/xcopa/config.json").is_file()
    assert (tmp_path / "stilts-data/intermediate-manifest.json").is_file()

