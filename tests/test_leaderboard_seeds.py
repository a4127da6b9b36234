"""The intermediate-task transfer table across seeds: grouping by what was trained, the same seed's baseline, the
interval (seed variance and the shared test set), JSON at full precision, every format, and the user's mistakes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from boardkit import flags, trainer_run
from test_leaderboard import write_json
from xtreme_harness.cli import leaderboard_main
from xtreme_harness.leaderboard import load_results
from xtreme_harness.leaderboard.seeds import seed_transfer, t_quantile

N = 40  # examples per language in the fixtures
T975 = {1: 12.706204736174694, 2: 4.302652729749462, 3: 3.1824463052837078}  # scipy.stats.t.ppf(0.975, df)


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def study(root: Path, seeds=(1, 2, 3), skip_baseline=()) -> Path:
    """Baseline, +ANLI+, +ANLI+ with MLM and a multi-task run, each seed in its own folder (as a sweep's
    xtreme-eval output), XNLI with per-example records, PAWS-X without."""
    correct = {1: (20, 26, 24, 22), 2: (22, 23, 25, 22), 3: (21, 27, 30, 25)}
    for seed in seeds:
        b, a, m, q = correct[seed]
        if seed not in skip_baseline:
            trainer_run(root, f"base/seed{seed}", seed, xnli={"en": flags(N, b + 8), "de": flags(N, b)},
                        pawsx={"en": 90.0, "de": 80.0 + seed})
        trainer_run(root, f"anli/seed{seed}", seed, ["anli_plus"],
                    xnli={"en": flags(N, a + 8), "de": flags(N, a)}, pawsx={"en": 91.0, "de": 81.0 + seed * 0.5})
        trainer_run(root, f"anli-mlm/seed{seed}", seed, ["anli_plus"], {"data": ["cc100.txt"], "weight": 0.1},
                    xnli={"en": flags(N, m + 8), "de": flags(N, m)})
        trainer_run(root, f"multi/seed{seed}", seed, ["qqp", "squad"],
                    xnli={"en": flags(N, q + 8), "de": flags(N, q)})
    return root


def board_json(tmp_path, *args) -> dict:
    out = tmp_path / "board.json"
    assert leaderboard_main([*map(str, args), "--out", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


# --- the figures ------------------------------------------------------------------------------------------

def test_transfer_table_recomputed_from_the_results_files(tmp_path):
    """Mean delta and SD over seeds, recomputed here from the per-run results.json files, equal the board's JSON."""
    root = study(tmp_path / "eval")
    board = board_json(tmp_path, root, "--bootstrap", "200")
    assert board["schema"] == "xtreme-harness/leaderboard/v1"

    runs: dict[tuple, dict[int, dict[str, float]]] = {}
    for path in sorted(root.rglob("results.json")):
        doc = json.loads(path.read_text())
        t = doc["model"]["training"]
        key = (tuple(t["intermediate"]), json.dumps(t["mlm"], sort_keys=True))
        runs.setdefault(key, {})[t["seed"]] = {task: v["avg_metric"] for task, v in doc["tasks"].items()}
    baseline = runs[((), "null")]
    expected_keys = {("anli_plus",): "anli_plus", ("qqp", "squad"): "qqp+squad"}
    checked = 0
    for (inter, mlm), by_seed in runs.items():
        if not inter:
            continue
        key = expected_keys[inter] + (" +mlm" if mlm != "null" else "")
        for task in ("xnli", "pawsx"):
            deltas = [by_seed[s][task] - baseline[s][task] for s in sorted(by_seed) if task in by_seed[s]]
            if not deltas:
                assert task not in board["transfer_matrix"][key]
                continue
            cell = board["transfer_matrix"][key][task]
            mean = sum(deltas) / len(deltas)
            sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (len(deltas) - 1))
            assert cell["delta"] == pytest.approx(mean, abs=1e-12)
            assert cell["sd"] == pytest.approx(sd, abs=1e-12)
            assert cell["seeds"] == len(deltas) == 3
            lo, hi = cell["ci95"]
            assert lo < cell["delta"] < hi and cell["significant"] == (lo > 0 or hi < 0)
            half = T975[2] * math.sqrt(sd ** 2 / 3 + (cell["se_test"] or 0.0) ** 2)
            assert (lo, hi) == pytest.approx((mean - half, mean + half), abs=1e-9)
            checked += 1
    assert checked == 4  # +ANLI+ XNLI and PAWS-X, +ANLI+ +MLM XNLI, multi-task XNLI
    # PAWS-X has no records: the interval is the seed part alone, and says so
    pawsx = board["transfer_matrix"]["anli_plus"]["pawsx"]
    assert pawsx["se_test"] is None and "seed variance only" in pawsx["method"]
    xnli = board["transfer_matrix"]["anli_plus"]["xnli"]
    assert xnli["se_test"] > 0 and "test-set resampling" in xnli["method"]
    # the baseline row gives absolute figures over seeds
    base = board["transfer_baseline"]["xlm-roberta-large"]["xnli"]
    assert base["delta"] == pytest.approx(sum(baseline[s]["xnli"] for s in (1, 2, 3)) / 3, abs=1e-12)
    assert base["seeds"] == 3 and base["ci95"] is None


def test_t_quantiles_are_exact():
    for df, value in T975.items():
        assert t_quantile(0.975, df) == pytest.approx(value, abs=1e-12)
    assert t_quantile(0.975, 30) == pytest.approx(2.0422724563012378, abs=1e-12)
    assert t_quantile(0.975, 1000) == pytest.approx(1.9623390808264078, abs=1e-9)


def test_one_seed_significance_is_not_two_seeds_significance(tmp_path, capsys):
    """The old story: a paired bootstrap over one seed's examples calls a gain significant that a second seed
    does not support. Across two seeds the interval reflects the seed variance, and the cell is not significant."""
    root = tmp_path / "eval"
    n = 400
    base1 = flags(n, 200)
    run1 = [1 if i < 212 else 0 for i in range(n)]  # right wherever the baseline is, and on 12 more
    base2 = flags(n, 206, offset=7)
    trainer_run(root, "base-s1", 1, xnli={"en": base1})
    trainer_run(root, "anli-s1", 1, ["anli_plus"], xnli={"en": run1})
    trainer_run(root, "base-s2", 2, xnli={"en": base2})
    trainer_run(root, "anli-s2", 2, ["anli_plus"], xnli={"en": list(base2)})
    cmp = tmp_path / "cmp.md"
    assert leaderboard_main(["--compare", str(root / "base-s1"), str(root / "anli-s1"), "--reference", "none",
                             "--out", str(cmp), "--bootstrap", "500"]) == 0
    assert "| XNLI | en | 400 | 50.0 | 53.0 | +3.0* |" in cmp.read_text()  # one seed: "significant"
    board = board_json(tmp_path, root, "--bootstrap", "500")
    cell = board["transfer_matrix"]["anli_plus"]["xnli"]
    assert cell["delta"] == pytest.approx(1.5, abs=1e-12) and cell["seeds"] == 2
    assert cell["per_seed"] == {"1": pytest.approx(3.0), "2": 0.0}
    assert cell["t_critical"] == pytest.approx(T975[1], abs=1e-12)
    assert cell["ci95"][0] < 0 < cell["ci95"][1] and cell["significant"] is False
    md = tmp_path / "board.md"
    assert leaderboard_main([str(root), "--out", str(md), "--bootstrap", "500"]) == 0
    row = next(line for line in md.read_text().splitlines() if line.startswith("| +ANLI+ | 1,2 |"))
    assert "+1.5 |" in row and "*" not in row


def test_the_interval_keeps_the_test_sets_uncertainty_when_seeds_agree(tmp_path):
    """Three seeds with the same difference: no seed variance, but the shared test set still makes the interval
    as wide as its bootstrap standard error says (close to the analytic paired SE), so one test set's luck is
    not read as certainty."""
    root = tmp_path / "eval"
    n = 200
    base = flags(n, 100)
    run = [1 if i < 110 else 0 for i in range(n)]  # +5 points: 10 examples turned right, none turned wrong
    for seed in (1, 2, 3):
        trainer_run(root, f"base-s{seed}", seed, xnli={"en": base})
        trainer_run(root, f"anli-s{seed}", seed, ["anli_plus"], xnli={"en": run})
    cell = board_json(tmp_path, root, "--bootstrap", "4000")["transfer_matrix"]["anli_plus"]["xnli"]
    assert cell["delta"] == pytest.approx(5.0) and cell["sd"] == 0.0 and cell["se_seed"] == 0.0
    p = 10 / n
    analytic = 100 * math.sqrt(p * (1 - p) / n)
    assert cell["se_test"] == pytest.approx(analytic, rel=0.1)
    lo, hi = cell["ci95"]
    assert (hi - lo) / 2 == pytest.approx(T975[2] * cell["se_test"], rel=1e-12)
    # without the test-set part the same cell would claim an interval of zero width
    bare = board_json(tmp_path, root, "--bootstrap", "0")["transfer_matrix"]["anli_plus"]["xnli"]
    assert bare["ci95"] == [5.0, 5.0] and "seed variance only" in bare["method"]


def test_the_interval_is_reproducible_with_the_seed(tmp_path):
    root = study(tmp_path / "eval", seeds=(1, 2))
    a = board_json(tmp_path, root, "--bootstrap", "300", "--seed", "7")["transfer_matrix"]["anli_plus"]["xnli"]
    b = board_json(tmp_path, root, "--bootstrap", "300", "--seed", "7")["transfer_matrix"]["anli_plus"]["xnli"]
    c = board_json(tmp_path, root, "--bootstrap", "300", "--seed", "8")["transfer_matrix"]["anli_plus"]["xnli"]
    assert a["ci95"] == b["ci95"] and a["se_test"] != c["se_test"]


# --- what is reported, and how rows are named -----------------------------------------------------------

def test_a_run_without_its_seeds_baseline_is_reported(tmp_path, capsys):
    root = study(tmp_path / "eval", skip_baseline=(3,))
    trainer_run(root, "other-base/seed1", 1, ["anli_plus"], base="bert-base-multilingual-cased",
                params=178_000_000, xnli={"en": flags(N, 30)})
    md = tmp_path / "board.md"
    assert leaderboard_main([str(root), "--out", str(md), "--bootstrap", "100"]) == 0
    err = capsys.readouterr().err
    assert "transfer table: +ANLI+, xnli, seed(s) 3: no baseline of the same seed; not in the table" in \
        err.replace("xlm-roberta-large: ", "")
    text = md.read_text()
    assert "Not in the table:" in text and "seed(s) 3: no baseline of the same seed." in text
    assert "no baseline run of this base model" in text
    board = board_json(tmp_path, root, "--bootstrap", "100")
    missing = board["transfer_missing_baselines"]
    assert {"task": "xnli", "seeds": [3], "reason": "no baseline of the same seed"}.items() <= \
        next(m for m in missing if m["key"].endswith("anli_plus") and m["task"] == "xnli").items()
    cell = next(v for k, v in board["transfer_matrix"].items() if k.endswith("/anli_plus"))["xnli"]
    assert cell["seeds"] == 2 and cell["unpaired_seeds"] == [3]
    orphan = next(v for k, v in board["transfer_matrix"].items() if k.startswith("bert-base"))["xnli"]
    assert orphan["delta"] is None and orphan["blank"] == "no baseline run of this base model"


def test_rows_are_named_by_what_was_trained_never_by_folder(tmp_path):
    root = study(tmp_path / "eval", seeds=(1, 2))
    md = tmp_path / "board.md"
    assert leaderboard_main([str(root), "--out", str(md), "--bootstrap", "50"]) == 0
    section = md.read_text().split("## Intermediate-task transfer across seeds\n", 1)[1].split("\n## ", 1)[0]
    labels = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")][2:]
    assert labels == ["baseline (no intermediate task)", "+ANLI+", "+ANLI+ +MLM", "+QQP+SQuAD v1.1"]
    assert "seed1" not in section and "anli-mlm" not in section
    board = board_json(tmp_path, root, "--bootstrap", "50")
    assert set(board["transfer_matrix"]) == {"anli_plus", "anli_plus +mlm", "qqp+squad"}
    rows = {r["key"]: r for r in board["transfer_rows"]}
    assert rows["anli_plus +mlm"]["mlm"] == {"data": ["cc100.txt"], "weight": 0.1}
    assert rows["qqp+squad"]["intermediate"] == ["qqp", "squad"] and rows["qqp+squad"]["seeds"] == [1, 2]
    # the summary names each run by what was trained and its seed
    assert "| xlm-roberta-large +ANLI+ +MLM, seed 2 | 560M |" in md.read_text()


def test_other_target_settings_are_another_configuration(tmp_path):
    root = study(tmp_path / "eval", seeds=(1, 2))
    target = {"xnli": {"learning_rate": 3e-05, "batch_size": 32, "epochs": 2, "max_length": 256}}
    for seed in (1, 2):
        trainer_run(root, f"anli-lr/seed{seed}", seed, ["anli_plus"], target=target, xnli={"en": flags(N, 30)})
    board = board_json(tmp_path, root, "--bootstrap", "50")
    assert board["transfer_matrix"]["anli_plus"]["xnli"]["seeds"] == 2
    other = board["transfer_matrix"]["anli_plus #2"]["xnli"]
    assert other["delta"] is None and other["blank"] == "no baseline trained with the same xnli target settings"


def test_the_published_deltas_render_beside_ours_with_the_split_caveat(tmp_path):
    root = study(tmp_path / "eval", seeds=(1, 2))
    md = tmp_path / "board.md"
    assert leaderboard_main([str(root), "--reference", "x-stilts", "--out", str(md), "--bootstrap", "50"]) == 0
    text = md.read_text()
    ours = text.index("## Intermediate-task transfer across seeds")
    theirs = text.index("## Published intermediate-task transfer (Phang et al., 2020)")
    assert ours < theirs
    assert "| ANLI+ (no MLM) |" in text and "| ANLI+ (with MLM) |" in text
    assert "These are dev-set figures (dev split), not test-set figures" in text
    assert "The runs' matrix above (Intermediate-task transfer across seeds) gives gains of avg_metric" in text
    assert "the paper's dev-set figures, of one run each, with no interval" in text


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "html", "json"])
def test_every_format_has_the_table(fmt, tmp_path):
    from test_leaderboard import check_html

    root = study(tmp_path / "eval", seeds=(1, 2))
    ext = {"md": "md", "csv": "csv", "latex": "tex", "html": "html", "json": "json"}[fmt]
    out = tmp_path / f"board.{ext}"
    assert leaderboard_main([str(root), "--out", str(out), "--bootstrap", "50", "--no-plots"]) == 0
    text = out.read_text(encoding="utf-8")
    if fmt == "md":
        assert "## Intermediate-task transfer across seeds" in text and "| +ANLI+ +MLM | 1,2 |" in text
    elif fmt == "csv":
        rows = [line.split(",") for line in text.splitlines()]
        cell = next(r for r in rows if r[:3] == ["transfer_matrix", "anli_plus", "xnli"])
        board = board_json(tmp_path, root, "--bootstrap", "50")
        assert float(cell[3]) == board["transfer_matrix"]["anli_plus"]["xnli"]["delta"]  # full precision
        assert any(r[0] == "transfer_detail" and r[2] == "low" for r in rows)
    elif fmt == "latex":
        assert "Intermediate-task transfer across seeds" in text and "+ANLI+ +MLM" in text
        assert text.count("\\begin{tabular}") == text.count("\\end{tabular}")
    elif fmt == "html":
        check_html(text)
        assert '<section id="transfer_matrix">' in text and '<section id="transfer_detail">' in text
    else:
        doc = json.loads(text)
        cell = doc["transfer_matrix"]["qqp+squad"]["xnli"]
        assert set(cell) >= {"delta", "sd", "seeds", "ci95", "significant"}
        assert isinstance(cell["ci95"], list) and len(cell["ci95"]) == 2
        assert any(s["key"] == "transfer_matrix" for s in doc["sections"])


def test_results_found_recursively_and_older_files_keep_working(tmp_path, capsys):
    root = study(tmp_path / "sweep-eval", seeds=(1, 2))
    st = seed_transfer([load_results(p) for p in sorted(root.rglob("results.json"))], resamples=20)
    assert [r.label for r in st.rows] == ["+ANLI+", "+ANLI+ +MLM", "+QQP+SQuAD v1.1"]
    empty = tmp_path / "empty" / "nested"
    empty.mkdir(parents=True)
    assert leaderboard_main([str(tmp_path / "empty")]) == 2
    assert "no results.json (searched its sub-folders too)" in one_error(capsys)
    # a file without model.training: the single-run matrix as before, in the JSON too (one run per cell)
    from test_leaderboard import _full, results_doc, scored_from

    old = []
    for name, inter, value in (("base", [], 70.0), ("mnli", ["mnli"], 72.5)):
        doc = results_doc(scored_from({"xnli": _full("xnli", value)}), name=name, intermediate=inter,
                          base_model="xlm-roberta-large" if inter else None, path="xlm-roberta-large" if not inter
                          else f"ckpt/{name}")
        old.append(write_json(tmp_path / "old" / name / "results.json", doc))
    board = board_json(tmp_path, tmp_path / "old")
    assert board["transfer_matrix"] == {"mnli": {"xnli": {"delta": 2.5, "sd": None, "seeds": 1, "ci95": None,
                                                          "significant": False, "partial": False}}}


# --- the user's mistakes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key,value,says", [
    ("seed", "1", "model.training.seed is \"1\"; expected an integer"),
    ("seed", 1.5, "model.training.seed is 1.5; expected an integer"),
    ("seed", True, "model.training.seed is true; expected an integer"),
    ("intermediate", "anli_plus", "model.training.intermediate is \"anli_plus\"; expected a list"),
    ("mlm", {"data": "corpus.txt", "weight": 0.1}, "model.training.mlm.data is \"corpus.txt\""),
    ("parameters", 0, "model.training.parameters is 0; expected the parameter count, a positive integer"),
    ("target", ["xnli"], "model.training.target is [\"xnli\"]"),
])
def test_a_bad_training_block_is_one_line_exit_2(key, value, says, tmp_path, capsys):
    path = trainer_run(tmp_path, "r", 1, ["anli_plus"], xnli={"en": flags(10, 5)})
    doc = json.loads(path.read_text())
    doc["model"]["training"][key] = value
    text = json.dumps(doc, indent=1)
    path.write_text(text)
    assert leaderboard_main([str(path)]) == 2
    err = one_error(capsys)
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines, 1) if ln.strip() == '"training": {')
    line = next(i for i, ln in enumerate(lines, 1) if f'"{key}":' in ln and i > start)
    sub = {"mlm": "data"}.get(key)
    if sub:
        line = next(i for i, ln in enumerate(lines, 1) if f'"{sub}":' in ln and i > line)
    assert f"{path}:{line}: {says}" in err, err


def test_two_results_for_one_seed_and_task_are_refused(tmp_path, capsys):
    trainer_run(tmp_path / "eval", "anli-a", 1, ["anli_plus"], xnli={"en": flags(10, 5)})
    trainer_run(tmp_path / "eval", "anli-b", 1, ["anli_plus"], xnli={"en": flags(10, 6)}, name="other")
    trainer_run(tmp_path / "eval", "base", 1, xnli={"en": flags(10, 4)})
    assert leaderboard_main([str(tmp_path / "eval")]) == 2
    err = one_error(capsys)
    assert "two results give xnli for +ANLI+ (xlm-roberta-large), seed 1" in err and "anli-a" in err


def test_intermediate_disagreeing_with_training_is_refused(tmp_path, capsys):
    path = trainer_run(tmp_path, "r", 1, ["anli_plus"], xnli={"en": flags(10, 5)})
    doc = json.loads(path.read_text())
    doc["model"]["intermediate"] = ["mnli"]
    path.write_text(json.dumps(doc, indent=1))
    assert leaderboard_main([str(path)]) == 2
    assert "disagrees with model.training.intermediate" in one_error(capsys)
