"""What a newcomer meets first: ``--version`` and ``--help`` on every command, a default output folder per
model, benchmark and split, the overall line and step names while a run goes, and the summary table at its end."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from xtreme_harness import cli
from xtreme_harness.io.version import __version__

MAINS = {"xtreme-eval": cli.eval_main, "xtreme-score": cli.score_main, "xtreme-data": cli.data_main,
         "xtreme-train": cli.train_main, "xtreme-leaderboard": cli.leaderboard_main}


@pytest.mark.parametrize("prog", sorted(MAINS))
def test_every_command_names_its_version_and_its_libraries(prog, capsys):
    assert MAINS[prog](["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{prog} {__version__} (") and out.count("\n") == 0, out
    for lib in ("torch", "transformers", "datasets", "lm-eval", "sentence-transformers", "huggingface_hub"):
        assert f"{lib} {importlib.metadata.version(lib)}" in out, (lib, out)
    assert re.search(r"faiss-(cpu|gpu) [0-9.]+", out), out


def test_a_benchmark_version_is_still_a_value_of_version(tmp_path, capsys):
    """``--version xtreme-r`` (eval, score, export) names the benchmark; only a bare ``--version`` prints versions."""
    rc = cli.score_main(["--predictions", str(tmp_path / "p"), "--labels", str(tmp_path / "l"), "--version",
                         "xtreme-r"])
    captured = capsys.readouterr()
    assert rc == 2 and "torch" not in captured.out, captured
    assert "--version" not in captured.err


def _help(prog: str, *sub: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        MAINS[prog]([*sub, "--help"])
    assert exit_.value.code == 0
    usage, entries = capsys.readouterr().out.split("\n\n", 1)
    return " " + re.sub(r"\s+", " ", entries)


@pytest.mark.parametrize("prog, sub, flag, shown", [
    ("xtreme-eval", (), "--output OUTPUT", "(default: xtreme-results/<model>-<version>[-dev]"),
    ("xtreme-eval", (), "--split test|dev", "(default: test)"),
    ("xtreme-eval", (), "--version xtreme|xtreme-r", "(default: xtreme)"),
    ("xtreme-eval", (), "--tasks TASKS", "(default: all)"),
    ("xtreme-eval", (), "--retrieval-search exact|ivf|pca", "exact (default, XTREME's)"),
    ("xtreme-score", (), "--version {xtreme,xtreme-r}", "(default: xtreme)"),
    ("xtreme-data", ("download",), "--version {xtreme,xtreme-r}", "(default: xtreme)"),
    ("xtreme-data", ("download",), "--languages", "(default: all)"),
    ("xtreme-train", ("run",), "--lr LR", "(default: per task, as xtreme-train tasks lists)"),
    ("xtreme-train", ("run",), "--warmup-ratio WARMUP_RATIO", "(default: 0.1)"),
    ("xtreme-train", ("run",), "--seed SEED", "(default: 42)"),
    ("xtreme-leaderboard", (), "--bootstrap N", "(default 1000;"),
    ("xtreme-leaderboard", ("export",), "--version {xtreme,xtreme-r}", "(default: xtreme)"),
])
def test_help_shows_every_default(prog, sub, flag, shown, capsys):
    text = _help(prog, *sub, capsys=capsys)
    after = text.split(f" {flag} ", 1)
    assert len(after) == 2, f"{flag} has no help entry in {prog} {' '.join(sub)} --help"
    entry = re.split(r" --?[a-z]", after[1], maxsplit=1)[0]
    assert shown in entry, (flag, entry)
    assert entry.count("(default") <= 1, entry


def test_the_trainer_lists_each_targets_defaults(capsys):
    assert cli.train_main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "intermediate tasks (lr 1e-05, epochs 2, batch_size 32):" in out
    assert re.search(r"^  xcopa +trained on English COPA .*; lr 2e-05, epochs 5, batch_size 32, max_length 128$",
                     out, re.M), out


def test_default_output_folders_never_meet(tmp_path, monkeypatch):
    """One folder per model, benchmark and split, so the README's two headline commands do not collide."""
    from xtreme_harness.options import EvalOptions, default_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "public.yaml").write_text("tasks: {}\n")

    def folder(**values) -> str:
        return default_output(EvalOptions.build({"tasks": "xnli", **values}, "test"))

    assert folder(model="ckpt/") == "xtreme-results/ckpt-xtreme"
    assert folder(model="ckpt/", version="xtreme-r") == "xtreme-results/ckpt-xtreme-r"
    assert folder(model="ckpt", split="dev") == "xtreme-results/ckpt-xtreme-dev"
    assert folder(model="FacebookAI/xlm-roberta-large") == "xtreme-results/FacebookAI__xlm-roberta-large-xtreme"
    assert folder(model="public.yaml") == "xtreme-results/public-xtreme"
    assert folder(model="hf", backend="lm-eval", model_args="pretrained=Qwen/Qwen2-0.5B") == \
        "xtreme-results/hf-Qwen__Qwen2-0.5B-xtreme"


# --- while a run goes, and at its end -----------------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    from tiny import build_suite

    from xtreme_harness.demo_data import write_demo_data

    root = tmp_path_factory.mktemp("start")
    return {"suite": build_suite(root / "ckpt", tasks=["xnli", "panx"]),
            "data": write_demo_data(root / "download", ["en", "de"], size="tiny")}


def _eval(inputs, out: Path, *extra: str) -> int:
    return cli.eval_main(["--model", str(inputs["suite"]), "--tasks", "xnli,panx", "--data-dir", str(inputs["data"]),
                          "--output", str(out), "--device", "cpu", *extra])


def test_without_a_terminal_each_unit_says_how_far_the_run_is(inputs, tmp_path, capsys):
    assert _eval(inputs, tmp_path / "out") == 0
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.startswith("xtreme-eval: ")]
    done = [x for x in lines if re.search(r"\[\d/4 task-languages", x)]
    units = [re.search(r"xtreme-eval: (\w+/\w+):", x).group(1) for x in done]
    assert sorted(units) == ["panx/de", "panx/en", "xnli/de", "xnli/en"] and units[0].startswith("xnli"), units
    assert "[1/4 task-languages, 0 of 2 tasks, " in done[0] and ", ETA " in done[0], done[0]
    assert "[2/4 task-languages, 1 of 2 tasks, " in done[1]
    assert "[4/4 task-languages, 2 of 2 tasks, " in done[3] and "ETA" not in done[3], done[3]
    # steps that take long whatever the data are announced; per-batch steps are not, without a terminal
    assert any(re.fullmatch(rf"xtreme-eval: {units[0]}: loading .*xnli", x) for x in lines), lines
    assert not any("tokenising" in x or "running the model" in x for x in lines), lines

    out = captured.out.splitlines()
    header = next(i for i, x in enumerate(out) if x.startswith("task "))
    assert re.split(r"\s{2,}", out[header]) == ["task", "languages", "examples", "seconds",
                                                 "figures (average over languages)"]
    assert set(out[header + 1]) <= {"-", " "}
    rows = {x.split()[0]: x for x in out[header + 2:header + 4]}
    import json

    res = json.loads((tmp_path / "out" / "results.json").read_text())
    for task, total in (("xnli", 15), ("panx", 40)):
        n = sum(res["tasks"][task]["n"].values())
        assert re.match(rf"{task}\s+2 of {total}\s+{n:,}\s+\d+\.\d\s+", rows[task]), rows[task]
    assert f"accuracy {res['tasks']['xnli']['avg_accuracy']:.2f}" in rows["xnli"]
    assert f"f1 {res['tasks']['panx']['avg_f1']:.2f}" in rows["panx"]
    assert out[-1] == f"results: {tmp_path / 'out' / 'results.json'}"

    # a second run reuses every unit: the counts still add up, no ETA is guessed from reused units
    assert _eval(inputs, tmp_path / "out") == 0
    again = capsys.readouterr().err.splitlines()
    reused = [x for x in again if "reusing finished result" in x]
    assert len(reused) == 4 and all("ETA" not in x for x in reused), again
    assert "[4/4 task-languages, 2 of 2 tasks, " in reused[-1]


def test_on_a_terminal_one_line_names_the_unit_and_the_step(inputs, tmp_path, capsys, monkeypatch):
    from xtreme_harness.io import progress
    from xtreme_harness.producers import engine

    monkeypatch.setattr(progress, "_tty", lambda: True)
    monkeypatch.setattr(engine, "_stderr_is_tty", lambda: True)
    assert _eval(inputs, tmp_path / "out") == 0
    err = capsys.readouterr().err
    drawn = re.split(r"[\r\n]", err)
    assert any(re.match(r"xnli/\w\w  1/4 task-languages, 0 of 2 tasks, \d+:\d\d elapsed, ETA \d+:\d\d", x)
               for x in drawn), err
    for step in ("· reading the data", "· loading ", "· tokenising ", "· running the model over "):
        assert step in err, (step, err)
    # log lines go above the overall line and do not repeat its counts
    assert any(re.fullmatch(r"xtreme-eval: panx/\w\w: f1=\d+\.\d\d.*\)", x) for x in drawn), err
    assert "] [" not in err
