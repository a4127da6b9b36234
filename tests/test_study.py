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

LANGS = ("en", "de", "es", "zh")
TOY = ["--lr", "1e-3", "--max-steps", "100", "--eval-every", "50", "--batch-size", "16", "--max-length", "64",
       "--precision", "no", "--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: tiny models run on one thread


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
    paths = demo_study_inputs(root, size="small", languages=LANGS)
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
    assert rc == 0 and again.count("reusing finished result") == 4 * len(LANGS)


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


def test_a_sweep_with_mlm_data_keeps_folders_of_its_own(tmp_path):
    """MLM runs go to <run>-mlm/ (mlm/ without an intermediate task): a sweep with MLM data and one without can
    share --out, and the board then has +X, +X +MLM, +MLM and the baseline."""
    (tmp_path / "c.txt").write_text("a line\n")
    rc, out, err = cli(train_main, ["sweep", "--intermediate", "mnli", "--base", "M", "--out", tmp_path / "o",
                                    "--seeds", "1", "--mlm-data", tmp_path / "c.txt", "--dry-run"])
    assert rc == 0, err
    outs = [ln.split("--out ", 1)[1].split(" ", 1)[0] for ln in out.splitlines() if ln.startswith("xtreme-train")]
    assert outs == [str(tmp_path / "o" / "mnli-mlm" / "seed-1"), str(tmp_path / "o" / "mlm" / "seed-1")]
    assert "the board's baseline (no intermediate task, no MLM) comes from a sweep without MLM data" in err


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


# --- divergence of intermediate from target data ------------------------------------------------------------

def _mmd2_by_loops(x, y, sigma):
    """Gretton et al.'s unbiased MMD², term by term."""
    def k(a, b):
        return math.exp(-sum((ai - bi) ** 2 for ai, bi in zip(a, b)) / (2 * sigma * sigma))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2 * xy


def _median_distance(x, y):
    z = list(x) + list(y)
    d = sorted(math.dist(z[i], z[j]) for i in range(len(z)) for j in range(i + 1, len(z)))
    mid = len(d) // 2
    return d[mid] if len(d) % 2 else (d[mid - 1] + d[mid]) / 2


def _cosine_of_means(x, y):
    mx = [sum(c) / len(x) for c in zip(*x)]
    my = [sum(c) / len(y) for c in zip(*y)]
    dot = sum(a * b for a, b in zip(mx, my))
    return 1 - dot / (math.sqrt(sum(a * a for a in mx)) * math.sqrt(sum(b * b for b in my)))


def test_divergences_on_a_hand_made_case():
    from xtreme_harness.leaderboard.divergence import cosine_distance, median_bandwidth, mmd2_unbiased

    x = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    y = [[2.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 0.5]]
    sigma = _median_distance(x, y)
    assert median_bandwidth(x, y) == pytest.approx(sigma)
    mmd2, used = mmd2_unbiased(x, y)
    assert used == pytest.approx(sigma) and mmd2 == pytest.approx(_mmd2_by_loops(x, y, sigma), rel=1e-12)
    assert mmd2_unbiased(x, y, 0.5)[0] == pytest.approx(_mmd2_by_loops(x, y, 0.5), rel=1e-12)
    assert cosine_distance(x, y) == pytest.approx(_cosine_of_means(x, y), rel=1e-12)
    # cos of the means (2/3, 2/3) and (1.5, 0.875): 1 − 0.9636...
    assert cosine_distance(x, y) == pytest.approx(1 - (1.5 + 0.875) / (math.sqrt(2) * math.sqrt(1.5 ** 2 + 0.875 ** 2)))
    assert cosine_distance(x, x) == pytest.approx(0, abs=1e-12)
    import numpy as np

    rng = np.random.default_rng(0)
    a, b, c = rng.normal(0, 1, (60, 4)), rng.normal(0, 1, (60, 4)), rng.normal(1.5, 1, (60, 4))
    assert abs(mmd2_unbiased(a, b)[0]) < mmd2_unbiased(a, c)[0]  # same distribution: ~0; shifted: clearly > 0


def test_spearman_with_ties_and_its_limits():
    from xtreme_harness.leaderboard.divergence import spearman

    xs, ys = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    rx, ry = [1, 2, 3, 4, 5], [1, 2, 3.5, 5, 3.5]  # ties share their mean rank
    mx, my = sum(rx) / 5, sum(ry) / 5
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    rho = cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    assert spearman(xs, ys) == pytest.approx(rho) and rho == pytest.approx(0.8207826816681233)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 2, 3], [4, 4, 4]) is None
    scipy_stats = pytest.importorskip("scipy.stats")
    assert spearman(xs, ys) == pytest.approx(scipy_stats.spearmanr(xs, ys)[0])


def test_divergence_beside_the_transfer_table(study):
    """Every figure of the JSON recomputed: the samples' texts re-read and re-embedded, the divergences by loops,
    the deltas from the per-suite results.json files, the correlations by ranks."""
    from xtreme_harness.leaderboard.divergence import example_texts, make_encoder, spearman
    from xtreme_harness.options import EvalOptions
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.tasks.registry import get_intermediate, get_task
    from xtreme_harness.tasks.sources import read_intermediate

    root, model = study["root"], study["runs"] / "demo_nli" / "seed-1"
    args = ["divergence", "--model", model, "--intermediate", "demo_nli", "--intermediate-task-dir", study["specs"],
            "--tasks", "xnli,panx", "--data-dir", study["data"], "--samples", "12", "--results", study["eval"],
            "--device", "cpu", "--no-progress"]
    rc, _, err = cli(leaderboard_main, [*args, "--format", "json", "--out", root / "div.json"])
    assert rc == 0, err
    rc, _, err = cli(leaderboard_main, [*args, "--out", root / "div.md"])
    assert rc == 0, err
    doc = json.loads((root / "div.json").read_text())
    assert doc["schema"] == "xtreme-harness/divergence/v1"
    rows = doc["divergence"]
    assert sorted((r["target"], r["language"]) for r in rows) == sorted((t, lang) for t in ("xnli", "panx")
                                                                       for lang in LANGS)
    assert all(r["intermediate"] == "demo_nli" and r["n_intermediate"] == r["n_target"] == 12 for r in rows)

    encoder, described = make_encoder(EvalOptions.build({"model": str(model), "device": "cpu", "progress": False}))
    assert doc["settings"]["encoder"]["layer"] == described["layer"] == 1  # two thirds of 2 layers
    inter = example_texts(read_intermediate(get_intermediate("demo_nli", [str(study["specs"])]), "train",
                                            study["data"]).examples)
    idx = doc["samples"]["demo_nli"]["indices"]
    assert len(idx) == 12 == len(set(idx)) and doc["samples"]["demo_nli"]["available"] == len(inter)
    x = encoder.encode([inter[i] for i in idx], 128).astype(float).tolist()
    for r in rows:
        texts = example_texts(read_split(get_task(r["target"]), study["data"], r["language"], "test"))
        sample = doc["samples"][f"{r['target']}/{r['language']}"]["indices"]
        y = encoder.encode([texts[i] for i in sample], 128).astype(float).tolist()
        sigma = _median_distance(x, y)
        assert r["bandwidth"] == pytest.approx(sigma, rel=1e-5)
        assert r["mmd2"] == pytest.approx(_mmd2_by_loops(x, y, sigma), rel=1e-4, abs=1e-6)
        assert r["cosine_distance"] == pytest.approx(_cosine_of_means(x, y), rel=1e-4, abs=1e-7)

    # The deltas: per language, the mean over seeds of run − the same seed's baseline, from the results files.
    def accuracy(rel, lang):
        return json.loads((study["eval"] / rel / "results.json").read_text())["tasks"]["xnli"]["accuracy"][lang]

    for r in rows:
        if r["target"] == "panx":
            assert r["delta"] is None and r["delta_seeds"] == []
            continue
        per = [accuracy(f"demo_nli/seed-{s}", r["language"]) - accuracy(f"baseline/seed-{s}", r["language"])
               for s in (1, 2)]
        assert r["delta_seeds"] == [1, 2] and r["delta"] == pytest.approx(sum(per) / 2, abs=1e-9)
    with_delta = [r for r in rows if r["delta"] is not None]
    for measure in ("cosine_distance", "mmd2"):
        c = doc["correlation"][measure]
        assert c["all"]["n"] == len(with_delta) == 4 and c["panx"] == {"rho": None, "n": 0}
        expected = spearman([r[measure] for r in with_delta], [r["delta"] for r in with_delta])
        assert c["xnli"]["rho"] == c["all"]["rho"] == (pytest.approx(expected) if expected is not None else None)
    md = (root / "div.md").read_text()
    assert "## Intermediate-task data against target data" in md and "## Rank correlation of divergence and " \
        "transfer" in md and "Vu et al., 2020" in md and "Gretton et al., 2012" in md
    assert "| demo_nli | xnli | de | 12 | 12 |" in md
    print("\n" + md)


def test_divergence_with_a_sentence_transformers_folder(study, tmp_path):
    """A sentence-transformers folder embeds with its own modules (here pooling and Normalize)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer, models

    from xtreme_harness.leaderboard.divergence import example_texts
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.tasks.registry import get_intermediate, get_task
    from xtreme_harness.tasks.sources import read_intermediate

    word = models.Transformer(str(study["base"]), max_seq_length=64)
    dim = (getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension)()
    st = SentenceTransformer(modules=[word, models.Pooling(dim, "mean"), models.Normalize()], device="cpu")
    folder = tmp_path / "st"
    st.save(str(folder))
    rc, _, err = cli(leaderboard_main, ["divergence", "--model", folder, "--intermediate", "demo_nli",
                                        "--intermediate-task-dir", study["specs"], "--tasks", "xnli", "--languages",
                                        "de", "--data-dir", study["data"], "--samples", "6", "--device", "cpu",
                                        "--no-progress", "--format", "json", "--out", tmp_path / "d.json"])
    assert rc == 0, err
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["settings"]["encoder"]["modules"] == ["Transformer", "Pooling", "Normalize"]
    (row,) = doc["divergence"]
    reference = SentenceTransformer(str(folder), device="cpu")
    texts = example_texts(read_split(get_task("xnli"), study["data"], "de", "test"))
    y = reference.encode([texts[i] for i in doc["samples"]["xnli/de"]["indices"]]).astype(float)
    inter = example_texts(read_intermediate(get_intermediate("demo_nli", [str(study["specs"])]), "train",
                                            study["data"]).examples)
    x = reference.encode([inter[i] for i in doc["samples"]["demo_nli"]["indices"]]).astype(float)
    assert np.allclose(np.linalg.norm(y, axis=1), 1, atol=1e-5)  # the Normalize module ran
    assert row["cosine_distance"] == pytest.approx(_cosine_of_means(x.tolist(), y.tolist()), rel=1e-4, abs=1e-7)
    sigma = _median_distance(x.tolist(), y.tolist())
    assert row["mmd2"] == pytest.approx(_mmd2_by_loops(x.tolist(), y.tolist(), sigma), rel=1e-4, abs=1e-6)
    assert row["n_target"] == 6 and row["delta"] is None


def test_divergence_mistakes_are_one_line(study, tmp_path):
    base = ["divergence", "--model", study["base"], "--data-dir", study["data"], "--tasks", "xnli", "--device", "cpu"]
    for extra, says in ((["--intermediate", "nope"], "unknown intermediate task 'nope'"),
                        ([], "--intermediate is required"),
                        (["--intermediate", "demo_nli", "--intermediate-task-dir", study["specs"], "--samples", "1"],
                         "--samples must be at least 2"),
                        (["--intermediate", "demo_nli", "--intermediate-task-dir", study["specs"], "--results",
                          tmp_path], "no results.json")):
        rc, _, err = cli(leaderboard_main, [*base, *extra])
        assert rc == 2 and says in err and err.count("\n") == 1 and "Traceback" not in err, err


# --- intermediate data staged for offline studies -----------------------------------------------------------

def test_intermediate_data_staged_offline_reads_as_the_hub_does(study, tmp_path, hf_cache, monkeypatch):
    """Every built-in intermediate task with a hub source is staged from local copies of its hub repositories;
    each file reads (through the spec's local block) the examples the hub copy gives, the manifest records
    where each came from, a rerun stages nothing, and a run then trains offline from the staged folder."""
    import dataclasses
    import hashlib

    from studykit import intermediate_hub
    from xtreme_harness.tasks.registry import intermediate_registry
    from xtreme_harness.tasks.sources import read_source

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = intermediate_hub(tmp_path / "hub")
    staged = tmp_path / "staged"
    rc, _, err = cli(train_main, ["data", "--intermediate", "all", "--out", staged, "--hub-copies", hub])
    assert rc == 0, err
    assert "ccg/ccgbank: no hub source" in err
    manifest = json.loads((staged / "intermediate-manifest.json").read_text())
    assert manifest["schema"] == "xtreme-harness/intermediate-data/v1"
    files = manifest["files"]
    assert len(files) == 21 and {e["task"] for e in files.values()} == {
        "anli_plus", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad", "squad_v2"}
    compared = 0
    for spec in intermediate_registry().values():
        for src in spec.sources:
            if not (src.hf and src.local):
                continue
            copy = dataclasses.replace(src, hf={**src.hf, "path": str(hub / src.hf["path"])})
            for split in ("train", "dev"):
                if not src.local.get(split) or split not in src.hf["splits"]:
                    continue
                entry = files[src.local[split]]
                data = (staged / src.local[split]).read_bytes()
                assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
                assert entry["hf"]["path"] == src.hf["path"] and entry["hf"]["split"] == src.hf["splits"][split]
                assert entry["hf"]["config"] == src.hf.get("config") and entry["hf"]["local_copy"]
                from_hub = read_source(spec, copy, split, None, "hf").examples
                local = read_source(spec, src, split, staged, "local").examples
                assert len(local) == len(from_hub) == entry["examples"] > 0
                for a, b in zip(local, from_hub):
                    if src.name == "qqp":  # a tab or line break in a TSV field is a space
                        b = dataclasses.replace(b, text_a=b.text_a.replace("\t", " "),
                                                text_b=b.text_b.replace("\n", " "))
                    assert dataclasses.replace(a, id="") == dataclasses.replace(b, id="")
                compared += 1
    assert compared == 22  # MNLI's train file serves anli_plus and mnli: staged once, read by both
    snli = files["snli_1.0/snli_1.0_train.jsonl"]
    assert snli["hf"]["rows"] == 12 and snli["examples"] == 10 and snli["skipped"] == 2  # SNLI's unlabelled items
    assert "\"is_impossible\": true" in (staged / "squad" / "train-v2.0.json").read_text()

    before = {p: p.stat().st_mtime_ns for p in staged.rglob("*")
              if p.is_file() and p.name != "intermediate-manifest.json" and not p.name.startswith(".")}
    rc, _, err = cli(train_main, ["data", "--intermediate", "all", "--out", staged, "--hub-copies", hub])
    assert rc == 0 and err.count(": already staged") == 21
    assert {p: p.stat().st_mtime_ns for p in before} == before

    out = tmp_path / "offline"
    rc, _, err = cli(train_main, ["run", "--base", study["base"], "--intermediate", "anli_plus,commonsenseqa",
                                  "--targets", "none", "--intermediate-data-dir", staged, "--intermediate-source",
                                  "local", "--out", out, "--max-steps", "2", "--batch-size", "4", "--max-length", "32",
                                  "--precision", "no", "--device", "cpu", "--no-progress"])
    assert rc == 0, err
    read = json.loads((out / "train_info.json").read_text())["phases"]["intermediate"]["data"]
    assert {d["source"] for d in read} == {"anli_r1", "anli_r2", "anli_r3", "mnli", "snli", "commonsenseqa"}
    assert all(str(staged) in d["file"] for d in read)


def test_staging_mistakes_are_one_line(tmp_path):
    for args, says in ((["--intermediate", "nope", "--out", tmp_path / "s"], "unknown intermediate task 'nope'"),
                       (["--intermediate", "qqp", "--out", tmp_path / "s", "--hub-copies", tmp_path / "none"],
                        "--hub-copies: folder not found")):
        rc, _, err = cli(train_main, ["data", *args])
        assert says in one_line_error(rc, err)


# --- the README's study, command by command ------------------------------------------------------------------

def readme_study_commands() -> list[str]:
    from conftest import ROOT

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Running a STILTs study\n", 1)[1]
    block = section.split("```", 2)[1]
    return [line for line in block.strip("\n").splitlines() if line.strip()]


# What the README's commands get here: the tiny demo encoder for XLM-R, local copies of the hub repositories,
# and toy-scale training; nothing else changes.
README_EXTRA = {"xtreme-train data": ["--hub-copies", "hub"],
                "xtreme-train sweep": ["--max-steps", "2", "--batch-size", "8", "--max-length", "64", "--precision",
                                       "no", "--device", "cpu", "--no-progress"],
                "xtreme-eval": ["--device", "cpu", "--no-progress"],
                "xtreme-leaderboard divergence": ["--samples", "8", "--device", "cpu", "--no-progress"]}


def test_the_readme_study_commands_run(tmp_path, monkeypatch, hf_cache):
    import shlex

    from studykit import intermediate_hub

    demo_study_inputs(tmp_path)
    intermediate_hub(tmp_path / "hub")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    commands = readme_study_commands()
    assert len(commands) == 6
    mains = {"xtreme-train": train_main, "xtreme-eval": eval_main, "xtreme-leaderboard": leaderboard_main}
    for command in commands:
        argv = shlex.split(command.replace("xlm-roberta-large", "base"))
        extra = next((v for k, v in README_EXTRA.items() if command.startswith(k + " ")), [])
        rc, _, err = cli(mains[argv[0]], argv[1:] + extra)
        assert rc == 0, (command, err)
    sweep = json.loads((tmp_path / "runs" / "sweep.json").read_text())
    assert sorted(s["path"] for s in sweep["suites"]) == sorted(f"{r}/seed-{s}" for r in ("anli_plus", "qqp",
                                                                                         "baseline") for s in (1, 2, 3))
    assert len(list((tmp_path / "eval").rglob("results.json"))) == 9
    matrix = json.loads((tmp_path / "study.json").read_text())["transfer_matrix"]
    assert set(matrix) == {"anli_plus", "qqp"}
    assert all(matrix[k][t]["seeds"] == 3 and len(matrix[k][t]["ci95"]) == 2 for k in matrix for t in ("xnli", "panx"))
    assert "## Intermediate-task transfer across seeds" in (tmp_path / "study.md").read_text()
    md = (tmp_path / "divergence.md").read_text()
    for inter in ("anli_plus", "qqp"):
        for target in ("xnli", "panx"):
            for lang in ("en", "de"):
                assert f"| {inter} | {target} | {lang} | 8 | 8 |" in md
    manifest = json.loads((tmp_path / "stilts-data" / "intermediate-manifest.json").read_text())
    assert {e["task"] for e in manifest["files"].values()} == {"anli_plus", "qqp"}


@pytest.mark.slow
@pytest.mark.shared
def test_divergence_of_the_shared_intermediate_data_with_me5_small(me5, shared_data, tmp_path):
    """The intermediate tasks with local data in ../shared (ANLI, CommonsenseQA, Cosmos QA dev) against XNLI:
    with a real multilingual encoder, each lies nearer the English test set than the Chinese one."""
    rc, _, err = cli(leaderboard_main, ["divergence", "--model", me5, "--intermediate", "anli_plus,commonsenseqa,"
                                        "cosmosqa", "--intermediate-data-dir", shared_data, "--intermediate-source",
                                        "local", "--intermediate-split", "dev", "--tasks", "xnli", "--languages",
                                        "en,zh", "--data-dir", shared_data, "--samples", "48", "--device", "cpu",
                                        "--no-progress", "--format", "json", "--out", tmp_path / "d.json"])
    assert rc == 0, err
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["settings"]["encoder"]["layer"] == 8  # XTREME's layer for a 12-layer model
    by = {(r["intermediate"], r["language"]): r for r in doc["divergence"]}
    for inter in ("anli_plus", "commonsenseqa", "cosmosqa"):
        assert by[(inter, "en")]["cosine_distance"] < by[(inter, "zh")]["cosine_distance"]
        assert by[(inter, "en")]["mmd2"] < by[(inter, "zh")]["mmd2"]
