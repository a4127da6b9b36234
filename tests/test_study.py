"""A STILTs study end to end from the command line: seeds and sweeps, sweep.json, resume, evaluating a sweep in
one command, the training record in results.json, the transfer table across seeds, and the user's mistakes.

Fast tier: the demo's data (en, de), a tiny encoder built with the demo's builders (hidden 32, 2 layers) and
the demo_nli intermediate task; each phase trains 100 steps, enough for XNLI to move off the majority class.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import pytest
from studykit import demo_study_inputs

from xtreme_harness.cli import eval_main, leaderboard_main, train_main

TOY = ["--lr", "1e-3", "--max-steps", "100", "--eval-every", "50", "--batch-size", "16", "--max-length", "64",
       "--precision", "no", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads; on a busy 2-core machine they lose a lot."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def cli(main, args) -> tuple[int, str, str]:
    """Run a console script's main in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def one_line_error(rc: int, err: str) -> str:
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict[str, Path]:
    """The inputs, a sweep (demo_nli and the baseline, XNLI, seeds 1 and 2) and its evaluation, all by CLI."""
    root = tmp_path_factory.mktemp("study")
    paths = demo_study_inputs(root, size="small")
    runs, evals = root / "runs", root / "eval"
    rc, out, err = cli(train_main, ["sweep", "--intermediate", "demo_nli", "--targets", "xnli", "--base", paths["base"],
                                    "--seeds", "1,2", "--out", runs, "--data-dir", paths["data"], "--task-dir",
                                    paths["specs"], *TOY])
    assert rc == 0, err
    paths["sweep_out"], paths["sweep_err"] = out, err
    rc, out, err = cli(eval_main, ["--model", runs, "--tasks", "xnli", "--data-dir", paths["data"], "--output", evals,
                                   "--device", "cpu", "--no-progress"])
    assert rc == 0, err
    paths["eval_out"], paths["eval_err"] = out, err
    return {**paths, "root": root, "runs": runs, "eval": evals}


SUITES = ["demo_nli/seed-1", "demo_nli/seed-2", "baseline/seed-1", "baseline/seed-2"]


# --- the whole study -----------------------------------------------------------------------------------------

def test_the_whole_study_from_the_command_line(study):
    """Sweep with two seeds -> xtreme-eval on the sweep folder -> the board in Markdown and JSON; the mean delta
    and SD over seeds, recomputed from the per-suite results.json files, are the board's transfer_matrix."""
    root, evals = study["root"], study["eval"]
    assert sorted(p.parent.relative_to(evals).as_posix() for p in evals.rglob("results.json")) == sorted(SUITES)
    rc, _, err = cli(leaderboard_main, [evals, "--reference", "none", "--out", root / "study.md"])
    assert rc == 0, err
    rc, _, err = cli(leaderboard_main, [evals, "--format", "json", "--out", root / "study.json"])
    assert rc == 0, err
    board = json.loads((root / "study.json").read_text())

    figure = {}
    for rel in SUITES:
        res = json.loads((evals / rel / "results.json").read_text())
        t = res["model"]["training"]
        assert t["seed"] == int(rel.rsplit("-", 1)[1])
        figure[(tuple(t["intermediate"]), t["seed"])] = res["tasks"]["xnli"]["avg_metric"]
    diffs = [figure[(("demo_nli",), s)] - figure[((), s)] for s in (1, 2)]
    mean = sum(diffs) / 2
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs))  # n − 1 = 1
    cell = board["transfer_matrix"]["demo_nli"]["xnli"]
    assert cell["seeds"] == 2 and cell["seed_list"] == [1, 2]
    assert cell["delta"] == pytest.approx(mean, abs=1e-9) and cell["sd"] == pytest.approx(sd, abs=1e-9)
    assert cell["per_seed"] == {str(s): pytest.approx(d, abs=1e-9) for s, d in zip((1, 2), diffs)}
    assert diffs != [0.0, 0.0], "the toy study should move XNLI off the majority class"
    base = board["transfer_baseline"]
    assert list(base) and base[next(iter(base))]["xnli"]["delta"] == pytest.approx(
        (figure[((), 1)] + figure[((), 2)]) / 2)
    md = (root / "study.md").read_text()
    assert "## Intermediate-task transfer across seeds" in md
    row = next(line for line in md.splitlines() if line.startswith("| +demo_nli | 1,2 |"))
    assert f"{mean:+.1f}" in row
    print("\n" + md[md.index("## Intermediate-task transfer across seeds"):].split("\n## ", 2)[0])


def test_sweep_evaluation_reports_progress_and_resumes(study):
    err = study["eval_err"]
    lines = [ln for ln in err.splitlines() if "sweep:" in ln]
    assert lines[0] == "xtreme-eval: sweep: 0/4 suites done"
    assert lines[-1].startswith("xtreme-eval: sweep: 4/4 suites done (baseline/seed-2), elapsed ")
    assert "ETA" in lines[1] and "ETA" not in lines[-1]
    assert "results: 4 suite(s) under" in study["eval_out"]
    rc, _, again = cli(eval_main, ["--model", study["runs"], "--tasks", "xnli", "--data-dir", study["data"],
                                   "--output", study["eval"], "--device", "cpu", "--no-progress"])
    assert rc == 0 and again.count("reusing finished result") == 8  # 4 suites x 2 languages


# --- seeds and sweep.json ----------------------------------------------------------------------------------------

def _done_times(runs: Path) -> dict[str, int]:
    return {p.relative_to(runs).as_posix(): p.stat().st_mtime_ns for p in sorted(runs.rglob("done.json"))}


def test_sweep_json_lists_every_suite_with_what_it_trains(study):
    doc = json.loads((study["runs"] / "sweep.json").read_text())
    assert doc["schema"] == "xtreme-harness/sweep/v1"
    suites = {s["path"]: s for s in doc["suites"]}
    assert list(suites) == SUITES
    for rel, s in suites.items():
        seed = int(rel.rsplit("-", 1)[1])
        assert s["seed"] == seed and s["status"] == "finished" and s["mlm"] is None
        assert s["intermediate"] == ([] if rel.startswith("baseline") else ["demo_nli"])
        assert s["targets"] == ["xnli"] and s["base_model"] == str(study["base"])
        assert s["settings"]["recipe"]["seed"] == seed and s["settings"]["cli_hyperparameters"]["max_steps"] == 100
        assert s["phases"]["xnli"]["lr"] == 1e-3 and ("intermediate" in s["phases"]) == rel.startswith("demo_nli")
        assert (study["runs"] / rel / "xnli" / "config.json").is_file()
    printed = [ln for ln in study["sweep_out"].splitlines() if ln.startswith("xtreme-train run")]
    assert len(printed) == 4 and all(f"--seed {rel[-1]}" in ln and str(study["runs"] / rel) in ln
                                      for ln, rel in zip(printed, SUITES))


def test_a_rerun_trains_nothing_and_an_added_seed_only_its_suites(study, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(study["runs"], runs)
    before = _done_times(runs)
    args = ["sweep", "--intermediate", "demo_nli", "--targets", "xnli", "--base", study["base"], "--out", runs,
            "--data-dir", study["data"], "--task-dir", study["specs"], *TOY]
    rc, _, err = cli(train_main, [*args, "--seeds", "1,2"])
    assert rc == 0, err
    assert _done_times(runs) == before
    assert "intermediate phase: " not in err and "target xnli" not in err
    assert err.count("already finished; reusing") == 6  # 2 intermediate phases, 4 target phases

    rc, _, err = cli(train_main, [*args, "--seeds", "1,2,3"])
    assert rc == 0, err
    after = _done_times(runs)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["baseline/seed-3/train/baseline/done.json",
                                                 "baseline/seed-3/train/xnli/done.json",
                                                 "demo_nli/seed-3/train/intermediate/done.json",
                                                 "demo_nli/seed-3/train/xnli/done.json"]
    assert err.count("intermediate phase: demo_nli") == 1 and err.count("target xnli -> xnli") == 2
    doc = json.loads((runs / "sweep.json").read_text())
    assert [s["path"] for s in doc["suites"]] == SUITES + ["demo_nli/seed-3", "baseline/seed-3"]
    assert all(s["status"] == "finished" for s in doc["suites"])


def test_run_with_seeds_writes_one_suite_per_seed(study, tmp_path):
    out = tmp_path / "one"
    rc, printed, err = cli(train_main, ["run", "--base", study["base"], "--intermediate", "none", "--targets", "xnli",
                                        "--seeds", "5,6", "--out", out, "--data-dir", study["data"],
                                        "--max-steps", "2", "--batch-size", "8", "--max-length", "32", "--precision",
                                        "no", "--device", "cpu", "--no-progress"])
    assert rc == 0, err
    doc = json.loads((out / "sweep.json").read_text())
    assert [(s["path"], s["seed"], s["intermediate"]) for s in doc["suites"]] == [("seed-5", 5, []),
                                                                                   ("seed-6", 6, [])]
    for seed in (5, 6):
        cfg = json.loads((out / f"seed-{seed}" / "xnli" / "config.json").read_text())
        assert cfg["xtreme_seed"] == seed and cfg["xtreme_mlm"] is None
        assert "seed: %d" % seed in (out / f"seed-{seed}" / "recipe.yaml").read_text()


# --- the training record --------------------------------------------------------------------------------------

def _encoder_parameters(path: Path) -> int:
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(path))
    return sum(p.numel() for n, p in model.base_model.named_parameters() if not n.startswith("pooler."))


def test_results_say_what_was_trained(study):
    for rel in SUITES:
        res = json.loads((study["eval"] / rel / "results.json").read_text())
        t = res["model"]["training"]
        assert list(t) == ["seed", "intermediate", "mlm", "base_model", "base_model_revision",
                           "base_model_fingerprint", "parameters", "target"]
        assert t["intermediate"] == ([] if rel.startswith("baseline") else ["demo_nli"]) and t["mlm"] is None
        assert t["base_model"] == str(study["base"]) and t["base_model_revision"] is None
        assert isinstance(t["base_model_fingerprint"], str) and len(t["base_model_fingerprint"]) == 16
        assert t["parameters"] == _encoder_parameters(study["runs"] / rel / "xnli")
        assert list(t["target"]) == ["xnli"] and t["target"]["xnli"]["lr"] == 1e-3 and \
            t["target"]["xnli"]["max_steps"] == 100 and "save_every" not in t["target"]["xnli"]
    first = json.loads((study["eval"] / SUITES[0] / "results.json").read_text())["model"]["training"]
    base = json.loads((study["eval"] / SUITES[2] / "results.json").read_text())["model"]["training"]
    assert first["base_model_fingerprint"] == base["base_model_fingerprint"] and first["target"] == base["target"]


def test_mlm_and_no_mlm_runs_are_two_rows(study, tmp_path):
    """A run with MLM batches records mlm {data, weight} and stays apart from the same task without them."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["Kenji Esposito lebt in Oslo .", "Miriam Sato works at Vega Bank ."] * 20) + "\n")
    out = tmp_path / "mlm"
    rc, _, err = cli(train_main, ["run", "--base", study["base"], "--intermediate", "demo_nli", "--task-dir",
                                  study["specs"], "--mlm-data", corpus, "--mlm-weight", "0.2", "--targets", "xnli",
                                  "--seeds", "1", "--out", out, "--data-dir", study["data"], *TOY])
    assert rc == 0, err
    evals = tmp_path / "eval"
    shutil.copytree(study["eval"], evals)
    rc, _, err = cli(eval_main, ["--model", out, "--tasks", "xnli", "--data-dir", study["data"], "--output",
                                 evals / "mlm", "--device", "cpu", "--no-progress"])
    assert rc == 0, err
    t = json.loads((evals / "mlm" / "seed-1" / "results.json").read_text())["model"]["training"]
    assert t["mlm"] == {"data": [str(corpus)], "weight": 0.2} and t["intermediate"] == ["demo_nli"]
    rc, _, err = cli(leaderboard_main, [evals, "--format", "json", "--out", tmp_path / "b.json"])
    assert rc == 0, err
    matrix = json.loads((tmp_path / "b.json").read_text())["transfer_matrix"]
    assert set(matrix) == {"demo_nli", "demo_nli +mlm"}
    assert matrix["demo_nli"]["xnli"]["seeds"] == 2 and matrix["demo_nli +mlm"]["xnli"]["seeds"] == 1


def test_a_suite_whose_checkpoints_disagree_is_refused(study, tmp_path):
    suite = tmp_path / "suite"
    shutil.copytree(study["runs"] / "demo_nli" / "seed-1", suite)
    record = json.loads((suite / "encoder" / "xtreme_train.json").read_text())
    record["training"]["seed"] = 7
    (suite / "encoder" / "xtreme_train.json").write_text(json.dumps(record))
    rc, _, err = cli(eval_main, ["--model", suite, "--tasks", "xnli", "--data-dir", study["data"], "--output",
                                 tmp_path / "e", "--device", "cpu", "--no-progress"])
    assert "trained differently: seed is 7 in" in one_line_error(rc, err)


# --- mistakes: one line, exit 2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seeds, says", [
    ("1,x", "--seeds expects comma-separated integer seeds (e.g. --seeds 1,2,3), got 'x' in '1,x'"),
    ("1,2,1", "--seeds names seed 1 twice; expected each seed once"),
    ("1,-2", "--seeds must be at least 0"),
    (",", "--seeds is empty"),
])
def test_bad_seeds_are_one_line(seeds, says, tmp_path):
    for command in (["run", "--intermediate", "none"], ["sweep", "--intermediate", "mnli"]):
        rc, _, err = cli(train_main, [*command, "--base", "M", "--targets", "xnli", "--out", tmp_path / "o",
                                      "--seeds", seeds, *(["--dry-run"] if command[0] == "sweep" else [])])
        assert says in one_line_error(rc, err)
    assert not (tmp_path / "o").exists()


def test_seed_and_seeds_together_are_refused(tmp_path):
    rc, _, err = cli(train_main, ["sweep", "--intermediate", "mnli", "--base", "M", "--out", tmp_path / "o",
                                  "--seeds", "1,2", "--seed", "3", "--dry-run"])
    assert "give --seed (one suite per run) or --seeds" in one_line_error(rc, err)
    rc, _, err = cli(train_main, ["run", "--base", "M", "--out", tmp_path / "o", "--seeds", "1,2", "--seed", "3"])
    assert "give --seed (one suite) or --seeds" in one_line_error(rc, err)


@pytest.mark.parametrize("text, line, says", [
    ("seeds: [1, 2, 1]\n", 3, "seeds names seed 1 twice"),
    ("seeds: [1, two]\n", 3, "seeds must be an integer, got 'two'"),
    ("seeds: []\n", 3, "seeds must be a non-empty list of integer seeds"),
    ("seed: 4\nseeds: [1, 2]\n", 4, "give seed (one suite) or seeds (one suite per seed), not both"),
])
def test_recipe_seeds_errors_name_the_line(text, line, says, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("base_model: M\ntargets: [xnli]\n" + text)
    rc, _, err = cli(train_main, ["check", recipe])
    assert f"{recipe}:{line}" in one_line_error(rc, err) and says in err


def test_recipe_seeds_round_trip(tmp_path):
    from xtreme_harness.train import load_recipe, recipe_from_text

    recipe = recipe_from_text("base_model: M\ntargets: [xnli]\nseeds: [3, 1]\n")
    assert recipe.seeds == [3, 1]
    (tmp_path / "r.yaml").write_text(recipe.to_yaml())
    again = load_recipe(tmp_path / "r.yaml")
    assert again.seeds == [3, 1] and "seed:" not in recipe.to_yaml()


def test_an_evaluation_inside_the_sweep_or_a_damaged_sweep_file_is_one_line(study, tmp_path):
    rc, _, err = cli(eval_main, ["--model", study["runs"], "--tasks", "xnli", "--data-dir", study["data"],
                                 "--output", study["runs"] / "eval", "--device", "cpu"])
    assert "lies in the sweep folder" in one_line_error(rc, err)
    assert not (study["runs"] / "eval").exists()
    bad = tmp_path / "sweep"
    bad.mkdir()
    (bad / "sweep.json").write_text('{"schema": "xtreme-harness/sweep/v1",\n "suites": [{"path": "../x", '
                                    '"seed": 1, "intermediate": [], "targets": [], "base_model": "M"}]}\n')
    rc, _, err = cli(eval_main, ["--model", bad, "--tasks", "xnli", "--data-dir", study["data"], "--output",
                                 tmp_path / "e", "--device", "cpu"])
    assert f"{bad / 'sweep.json'}:2" in one_line_error(rc, err) and "suites[0].path" in err
