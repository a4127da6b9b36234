"""xtreme-leaderboard: the XTREME score it shows, its formats, comparisons, references and export."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from xtreme_harness import __version__
from xtreme_harness.cli import leaderboard_main
from xtreme_harness.io.errors import UserError
from xtreme_harness.leaderboard import (build_board, entry_from_dict, export_submission, load_references,
                                        load_results, paired_bootstrap, render, transfer_gap, transfer_matrix)
from xtreme_harness.leaderboard.reference import available, reference_dir
from xtreme_harness.tasks.scoring import aggregate_task, overall_scores, score_folders
from xtreme_harness.spec import benchmark
from xtreme_harness.tasks.registry import registry

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XTREME_SHARED", REPO.parent / "shared"))
MOCK = SHARED / "golden" / "mock"
OFFICIAL_XTREME_SCORE = 62.17319850507246  # evaluate.py on the official mock_test_data

needs_mock = pytest.mark.skipif(not MOCK.is_dir(), reason="../shared/golden/mock is absent")


# --- helpers --------------------------------------------------------------------------

def results_doc(scored: dict, name: str = "model", intermediate=None, base_model=None, path="ckpt",
                records: str | None = "records", config=None) -> dict:
    """Wrap xtreme-score output in the results.json schema that xtreme-eval writes."""
    scored = copy.deepcopy(scored)
    doc = {"schema": "xtreme-harness/results/v1", "harness_version": __version__, "created": "2024-01-01T00:00:00Z",
           "model": {"name": name, "path": path, "revision": None, "protocol": "fine-tuned transfer",
                     "intermediate": intermediate if intermediate is not None else [], "base_model": base_model},
           "config": config or {}, "version": scored.get("version", "xtreme"),
           "overall": scored["overall"], "tasks": scored["tasks"],
           "coverage": scored.get("coverage", {}), "partial": scored.get("partial", True)}
    for t in doc["tasks"].values():
        t.setdefault("split", "test")
    if records is not None:
        doc["records"] = records
    return doc


def scored_from(per_task: dict[str, dict[str, dict[str, float]]], version: str = "xtreme") -> dict:
    """Task dicts and overall scores from per-language figures, aggregated as the official scorer does."""
    specs = registry()
    tasks, coverage, complete = {}, {}, set()
    for task, per_lang in per_task.items():
        spec = specs[task]
        langs = list(spec.languages(version))
        missing = [lang for lang in langs if lang not in per_lang]
        tasks[task] = aggregate_task(spec, per_lang, None, langs, None if missing else langs)
        coverage[task] = {"complete": not missing, "languages": list(per_lang), "missing": missing}
        if not missing:
            complete.add(task)
    return {"overall": overall_scores(tasks, complete, version)[0], "tasks": tasks, "coverage": coverage,
            "partial": True, "version": version}


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def write_records(run: Path, task: str, lang: str, records: list[dict]) -> None:
    p = run / "records" / task / f"{lang}.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


class _Checker(HTMLParser):
    """Fails on unbalanced or mis-nested elements; collects image sources."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "area", "base", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(page: str) -> _Checker:
    assert page.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(page)
    c.close()
    assert c.stack == [], f"unclosed elements: {c.stack}"
    return c


@pytest.fixture(scope="module")
def mock_scored():
    if not MOCK.is_dir():
        pytest.skip("../shared/golden/mock is absent")
    return score_folders(MOCK / "predictions", MOCK / "labels", warn=lambda msg: None)


@pytest.fixture
def mock_file(tmp_path, mock_scored):
    return write_json(tmp_path / "mock" / "results.json", results_doc(mock_scored, name="mock-model"))


# --- the XTREME score -----------------------------------------------------------------

@needs_mock
def test_xtreme_score_equals_official(mock_file, tmp_path):
    entry = load_results(mock_file)
    assert abs(entry.overall["all_task"] - OFFICIAL_XTREME_SCORE) < 1e-9
    expected = json.loads((MOCK / "expected.json").read_text())["overall"]
    for key, value in expected.items():
        assert abs(entry.overall[key] - value) < 1e-9, key
    # The CSV keeps full precision; Markdown shows it rounded.
    out = tmp_path / "board.csv"
    assert leaderboard_main([str(mock_file), "--out", str(out), "--reference", "none"]) == 0
    rows = [line.split(",") for line in out.read_text().splitlines()]
    value = next(r[3] for r in rows if r[0] == "summary" and r[2] == "all_task")
    assert abs(float(value) - OFFICIAL_XTREME_SCORE) < 1e-9
    board = render(build_board([entry]), "md")
    assert "| mock-model | 62.2 |" in board


@needs_mock
def test_xtreme_score_file_without_schema(tmp_path, mock_scored):
    """xtreme-score --json output (no model, no records) is accepted as it is."""
    p = write_json(tmp_path / "scores.json", mock_scored)
    entry = load_results(p)
    assert entry.name == "scores"
    assert abs(entry.overall["all_task"] - OFFICIAL_XTREME_SCORE) < 1e-9


@needs_mock
def test_overall_that_disagrees_is_refused(tmp_path, mock_scored):
    doc = results_doc(mock_scored)
    doc["overall"]["all_task"] += 0.01
    p = write_json(tmp_path / "r.json", doc)
    with pytest.raises(UserError, match="overall.all_task") as exc:
        load_results(p)
    assert str(p) in str(exc.value)

    doc = results_doc(mock_scored)
    doc["tasks"]["xnli"]["avg_metric"] = 99.0
    doc["tasks"]["xnli"]["avg_accuracy"] = 99.0
    with pytest.raises(UserError, match="avg_accuracy"):
        load_results(write_json(tmp_path / "r2.json", doc))


# --- formats --------------------------------------------------------------------------

@needs_mock
@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "html"])
def test_every_format_renders(fmt, mock_file, tmp_path):
    ext = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}[fmt]
    out = tmp_path / f"board.{ext}"
    assert leaderboard_main([str(mock_file), "--out", str(out), "--per-language"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "mock-model" in text and "mBERT" in text
    if fmt == "md":
        assert "## XNLI by language" in text and "| 62.2 |" in text
    elif fmt == "csv":
        assert text.splitlines()[0] == "section,row,column,value,display,mark"
    elif fmt == "latex":
        assert text.count("\\begin{tabular}") == text.count("\\end{tabular}") > 1
        assert "\\toprule" in text and "62.2" in text
    else:
        checker = check_html(text)
        assert checker.images, "plots are embedded"
        for src in checker.images:
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<style>" in text and "<script" not in text
        assert "62.2" in "".join(checker.text)


@needs_mock
def test_format_from_extension_and_plot_files(mock_file, tmp_path):
    out = tmp_path / "board.md"
    plots = tmp_path / "plots"
    assert leaderboard_main([str(mock_file), "--out", str(out), "--plots", str(plots)]) == 0
    names = sorted(p.name for p in plots.iterdir())
    assert "heatmap-mock-model.png" in names and "task-bars.png" in names and "transfer-gap.png" in names
    assert all((plots / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    assert "](plots/heatmap-mock-model.png)" in out.read_text()


@needs_mock
def test_html_opens_in_headless_browser(mock_file, tmp_path):
    """The official mock run's board in headless Chromium (the flags this machine needs, a fresh profile): the
    rendered DOM has the title, the run, its XTREME score and the embedded plots. Skips only without Chromium;
    a Chromium that fails to render is a failure. Screenshots and the sticky first column:
    test_leaderboard_browser.py."""
    from browser import dump_dom, need_chromium

    need_chromium()
    out = tmp_path / "board.html"
    assert leaderboard_main([str(mock_file), "--out", str(out)]) == 0
    dom = dump_dom(out)
    assert "<title>XTREME leaderboard</title>" in dom and "<h1>XTREME leaderboard</h1>" in dom
    assert "mock-model" in dom and "62.2" in dom
    assert dom.count("data:image/png;base64,") >= 3


# --- partial coverage -----------------------------------------------------------------

@needs_mock
def test_partial_results_show_as_partial(tmp_path):
    preds = tmp_path / "preds"
    shutil.copytree(MOCK / "predictions", preds)
    (preds / "xnli" / "test-ar.tsv").unlink()
    shutil.rmtree(preds / "bucc2018")
    scored = score_folders(preds, MOCK / "labels", warn=lambda msg: None)
    p = write_json(tmp_path / "partial" / "results.json", results_doc(scored, name="half-done"))
    entry = load_results(p)
    assert entry.partial and "all_task" not in entry.overall
    assert "classification" not in entry.overall and "retrieval" not in entry.overall
    assert "tagging" in entry.overall  # complete categories still count
    assert not entry.tasks["xnli"].complete and entry.tasks["xnli"].missing == ["ar"]

    md = render(build_board([entry]), "md")
    row = next(line for line in md.splitlines() if line.startswith("| half-done |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "–†"  # XTREME blank, marked partial
    assert cells[7].endswith("†")  # XNLI average over 14 languages
    assert "xnli: 14/15 languages" in md and "bucc2018: not evaluated" in md

    # A file that claims an XTREME score for partial results is refused.
    doc = json.loads(p.read_text())
    doc["overall"]["all_task"] = 60.0
    with pytest.raises(UserError, match="partial or missing"):
        load_results(write_json(tmp_path / "claims.json", doc))


def test_default_reference_rows_are_the_zero_shot_test_rows():
    refs = load_references("all")
    assert [r.ref.row_id for r in refs] == ["hu2020_xtreme_v3_t2_mbert_zeroshot", "hu2020_xtreme_v3_t2_xlm_zeroshot",
                                            "hu2020_xtreme_v3_t2_xlmr_large_zeroshot",
                                            "hu2020_xtreme_v3_t2_mmte_zeroshot"]
    assert [r.name for r in load_references(None)] == [r.name for r in refs]
    for r in refs:
        p = r.ref
        assert p.split == "test" and not p.split_exceptions and not p.is_delta and not p.second_hand
        assert p.transfer == "zero-shot" and "2003.11080" in r.source and r.table.startswith("Table 2")
        assert "arXiv v3" in p.version_read and p.url_read and p.caveat
        # Every task figure is printed, so the score is recomputed, never the printed Avg column.
        complete = {t for t, ts in r.tasks.items() if ts.avg_metric is not None}
        assert complete == set(benchmark("xtreme")["tasks"])
        official, _ = overall_scores({t: {"avg_metric": r.tasks[t].avg_metric} for t in complete}, complete, "xtreme")
        assert r.score == official["all_task"] and "Avg" in p.printed_avg
    assert load_references("none") == []
    with pytest.raises(UserError, match="unknown reference 'no-such-paper'"):
        load_references("no-such-paper")


def test_shipped_references_match_the_repository_folder():
    repo_dir = REPO / "leaderboard"
    if not repo_dir.is_dir():
        pytest.skip("not a source checkout")
    shipped = available()
    assert set(shipped) == {"xtreme-paper", "x-stilts", "rembert-paper", "mt5-readme"}
    for ref_id, path in shipped.items():
        twin = repo_dir / path.name
        assert twin.is_file(), f"{twin} missing"
        assert twin.read_bytes() == path.read_bytes(), f"{twin} differs from {path}"
    assert {p.name for p in repo_dir.glob("*.y*ml")} == {p.name for p in shipped.values()}
    assert reference_dir().is_dir()


# --- comparisons ----------------------------------------------------------------------

def _accuracy_run(tmp_path: Path, name: str, correct: dict[str, list[int]], ids=None) -> Path:
    run = tmp_path / name
    per_lang = {}
    for lang, flags in correct.items():
        recs = [{"id": (ids or {}).get(lang, [f"{lang}-{i}" for i in range(len(flags))])[i], "pred": "entailment",
                 "gold": "entailment" if c else "neutral", "correct": c} for i, c in enumerate(flags)]
        write_records(run, "xnli", lang, recs)
        per_lang[lang] = {"accuracy": 100.0 * sum(flags) / len(flags)}
    return write_json(run / "results.json", results_doc(scored_from({"xnli": per_lang}), name=name))


def test_bootstrap_known_difference(tmp_path):
    half = [1] * 10 + [0] * 10
    a = _accuracy_run(tmp_path, "A", {"de": half, "en": half})
    b = _accuracy_run(tmp_path, "B", {"de": [1] * 20, "en": [1] * 20})  # right wherever A is wrong
    res = paired_bootstrap(load_results(a), load_results(b), resamples=1000, seed=7)
    td = res.tasks["xnli"]
    assert td.overall.diff == pytest.approx(50.0, abs=1e-12)
    assert td.overall.a == pytest.approx(50.0) and td.overall.b == pytest.approx(100.0)
    assert td.overall.low > 0 and td.overall.significant
    for lang in ("de", "en"):
        d = td.languages[lang]
        assert d.diff == pytest.approx(50.0, abs=1e-12) and d.n == 20 and d.significant
        assert 0 < d.low <= 50.0 <= d.high <= 100.0
    # Same seed, same interval.
    again = paired_bootstrap(load_results(a), load_results(b), resamples=1000, seed=7)
    assert again.tasks["xnli"].overall.low == td.overall.low


def test_bootstrap_all_wrong_vs_all_right_is_exact(tmp_path):
    a = _accuracy_run(tmp_path, "A", {"de": [0] * 15})
    b = _accuracy_run(tmp_path, "B", {"de": [1] * 15})
    d = paired_bootstrap(load_results(a), load_results(b), resamples=200).tasks["xnli"].overall
    assert (d.diff, d.low, d.high) == (100.0, 100.0, 100.0) and d.significant


def test_bootstrap_identical_runs_not_significant(tmp_path):
    flags = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0]
    a = _accuracy_run(tmp_path, "A", {"de": flags, "fr": flags[::-1]})
    b = _accuracy_run(tmp_path, "B", {"de": flags, "fr": flags[::-1]})
    td = paired_bootstrap(load_results(a), load_results(b), resamples=500).tasks["xnli"]
    for d in [td.overall, *td.languages.values()]:
        assert d.diff == 0.0 and d.low == 0.0 and d.high == 0.0 and not d.significant


def test_bootstrap_tagging_and_qa_metrics(tmp_path):
    def run(name, tag, qa):
        r = tmp_path / name
        write_records(r, "panx", "en", [{"id": f"s{i}", "pred": [], "gold": [], **tag} for i in range(8)])
        write_records(r, "xquad", "en", [{"id": f"q{i}", "pred": "x", "gold": ["x"], **qa} for i in range(8)])
        f1 = 200.0 * tag["tp"] / (tag["n_pred"] + tag["n_gold"])
        scored = scored_from({"panx": {"en": {"f1": f1}},
                              "xquad": {"en": {"exact_match": 100.0 * qa["em"], "f1": 100.0 * qa["f1"]}}})
        return write_json(r / "results.json", results_doc(scored, name=name))

    a = run("A", {"tp": 1, "n_pred": 2, "n_gold": 2}, {"em": 0, "f1": 0.5})
    b = run("B", {"tp": 2, "n_pred": 2, "n_gold": 2}, {"em": 1, "f1": 1.0})
    res = paired_bootstrap(load_results(a), load_results(b), resamples=100)
    assert res.tasks["panx"].languages["en"].a == pytest.approx(50.0)
    assert res.tasks["panx"].overall.diff == pytest.approx(50.0)
    assert res.tasks["xquad"].overall.a == pytest.approx(25.0)  # (EM+F1)/2, as avg_metric
    assert res.tasks["xquad"].overall.diff == pytest.approx(75.0)
    assert res.tasks["panx"].overall.low == pytest.approx(50.0)  # every sentence alike


def test_bootstrap_refuses_different_examples(tmp_path):
    a = _accuracy_run(tmp_path, "A", {"de": [1, 0, 1]})
    b = _accuracy_run(tmp_path, "B", {"de": [1, 1, 1]}, ids={"de": ["de-0", "de-1", "other"]})
    with pytest.raises(UserError, match="records differ") as exc:
        paired_bootstrap(load_results(a), load_results(b))
    assert "de.jsonl" in str(exc.value)
    assert leaderboard_main(["--compare", str(a), str(b)]) == 2


def test_bootstrap_aligns_reordered_records(tmp_path):
    a = _accuracy_run(tmp_path, "A", {"de": [1, 0, 1, 0]})
    b = _accuracy_run(tmp_path, "B", {"de": [0, 1, 0, 1]}, ids={"de": ["de-3", "de-2", "de-1", "de-0"]})
    d = paired_bootstrap(load_results(a), load_results(b), resamples=200).tasks["xnli"].overall
    assert d.diff == 0.0 and d.low == d.high == 0.0  # the same predictions, in another order


def test_compare_cli_renders_delta_and_bootstrap(tmp_path, capsys):
    a = _accuracy_run(tmp_path, "A", {"de": [1] * 10 + [0] * 10})
    b = _accuracy_run(tmp_path, "B", {"de": [1] * 20})
    out = tmp_path / "cmp.md"
    assert leaderboard_main(["--compare", str(a), str(b), "--reference", "none", "--out", str(out),
                             "--bootstrap", "300", "--seed", "3"]) == 0
    md = out.read_text()
    assert "## Difference B − A" in md and "## Paired bootstrap per task and language" in md
    delta_row = next(line for line in md.splitlines() if line.startswith("| XNLI avg_metric |"))
    assert "+50.0*" in delta_row and delta_row.rstrip().endswith("| * |")
    assert "| XNLI | de | 20 | 50.0 | 100.0 | +50.0* |" in md


def test_transfer_gap(tmp_path):
    per_lang = {lang: {"accuracy": 80.0} for lang in registry()["xnli"].languages("xtreme")}
    per_lang["en"] = {"accuracy": 90.0}
    entry = entry_from_dict(results_doc(scored_from({"xnli": per_lang})), "x.json")
    gap, partial = transfer_gap(entry, "xnli")
    assert gap == pytest.approx(10.0) and not partial
    assert transfer_gap(entry, "tatoeba") == (None, False)


def _full(task: str, value: float) -> dict:
    spec = registry()[task]
    key = spec.metrics.primary[0]
    return {lang: {key: value} for lang in spec.languages("xtreme")}


def test_transfer_matrix_from_results(tmp_path):
    def run(name, inter, xnli, pawsx, base="xlm-roberta-large"):
        doc = results_doc(scored_from({"xnli": _full("xnli", xnli), "pawsx": _full("pawsx", pawsx)}), name=name,
                          intermediate=inter, base_model=None if not inter else base,
                          path="xlm-roberta-large" if not inter else f"ckpt/{name}")
        return write_json(tmp_path / name / "results.json", doc)

    paths = [run("base", [], 70.0, 80.0), run("mnli", ["mnli"], 72.0, 79.0), run("squad", ["squad"], 69.0, 81.5),
             run("multi", ["mnli", "squad"], 73.0, 80.0)]
    entries = [load_results(p) for p in paths]
    m = transfer_matrix(entries)
    assert m is not None and m.tasks == ["pawsx", "xnli"]
    gains = {row.label: {t: m.gain(row, b, t) for t in m.tasks} for row, b in m.rows}
    assert gains == {"mnli": {"pawsx": -1.0, "xnli": 2.0}, "squad": {"pawsx": 1.5, "xnli": -1.0},
                     "mnli+squad": {"pawsx": 0.0, "xnli": 3.0}}
    row, base = m.rows[0]
    assert m.mean_gain(row, base) == pytest.approx(0.5)

    md = render(build_board(entries, matrix=m), "md")
    assert "## Intermediate-task transfer" in md
    assert "| mnli | -1.0 | +2.0 | +0.5 |" in md
    assert "| baseline (no intermediate task) | 80.0 | 70.0 | 75.0 |" in md

    # Without a baseline there is no matrix; two results for one cell are ambiguous.
    assert transfer_matrix(entries[1:]) is None
    dup = load_results(run("mnli2", ["mnli"], 71.0, 78.0))
    with pytest.raises(UserError, match="two results give"):
        transfer_matrix(entries + [dup])
    out = tmp_path / "board.md"
    assert leaderboard_main([*map(str, paths), str(tmp_path / "mnli2"), "--out", str(out)]) == 0
    assert "No intermediate-task transfer matrix" in out.read_text()


# --- export ---------------------------------------------------------------------------

@needs_mock
def test_export_writes_a_complete_submission(tmp_path, mock_scored):
    run = tmp_path / "run"
    shutil.copytree(MOCK / "predictions", run / "predictions")
    write_json(run / "results.json", results_doc(mock_scored))
    out = tmp_path / "submission"
    report = export_submission(run, out)
    specs = registry()
    expected = {f"{t}/test-{lang}.{specs[t].submission_ext}" for t in
                ("pawsx", "xnli", "panx", "udpos", "bucc2018", "tatoeba", "xquad", "mlqa", "tydiqa")
                for lang in specs[t].languages("xtreme")}
    assert set(report.written) == expected and len(expected) == 162 and report.complete
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == expected
    for rel in expected:
        assert (out / rel).read_bytes() == (run / "predictions" / rel).read_bytes()
    assert any(r.startswith("mewslix/") for r in report.ignored)
    # A non-empty output folder is left alone unless forced.
    with pytest.raises(UserError, match="not empty"):
        export_submission(run, out)
    assert export_submission(run, out, force=True).complete


@needs_mock
def test_export_reports_missing_files(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(MOCK / "predictions", run / "predictions")
    (run / "predictions" / "xnli" / "test-sw.tsv").unlink()
    shutil.rmtree(run / "predictions" / "tatoeba")
    out = tmp_path / "sub"
    with pytest.raises(UserError, match="xnli/test-sw.tsv") as exc:
        export_submission(run, out)
    assert "37 of 162" in str(exc.value) and not out.exists()
    assert leaderboard_main(["export", str(run), "--out", str(out)]) == 2
    assert "xnli/test-sw.tsv" in capsys.readouterr().err
    assert leaderboard_main(["export", str(run), "--out", str(out), "--allow-partial"]) == 0
    err = capsys.readouterr().err
    assert "INCOMPLETE" in err and "tatoeba/test-ar.tsv" in err
    assert (out / "xnli" / "test-en.tsv").is_file() and not (out / "xnli" / "test-sw.tsv").exists()


@needs_mock
def test_export_refuses_dev_predictions_and_bad_files(tmp_path, mock_scored):
    run = tmp_path / "run"
    shutil.copytree(MOCK / "predictions", run / "predictions")
    doc = results_doc(mock_scored)
    doc["tasks"]["xnli"]["split"] = "dev"
    write_json(run / "results.json", doc)
    with pytest.raises(UserError, match="test split"):
        export_submission(run, tmp_path / "sub")
    doc["tasks"]["xnli"]["split"] = "test"
    write_json(run / "results.json", doc)
    (run / "predictions" / "pawsx" / "test-de.tsv").write_text("0\nmaybe\n")
    with pytest.raises(UserError, match="maybe") as exc:
        export_submission(run, tmp_path / "sub")
    assert "test-de.tsv:2" in str(exc.value)


@needs_mock
def test_export_checks_tatoeba_orientation_and_counts(tmp_path, mock_scored):
    run = tmp_path / "run"
    shutil.copytree(MOCK / "predictions", run / "predictions")
    doc = results_doc(mock_scored)
    doc["harness_version"] = "0.1.0"  # wrote one Tatoeba line per non-English sentence
    write_json(run / "results.json", doc)
    with pytest.raises(UserError, match="one line per sorted English sentence") as exc:
        export_submission(run, tmp_path / "sub")
    assert str(run / "results.json") in str(exc.value) and not (tmp_path / "sub").exists()
    # One prediction line per English sentence the run scored; a file of another length is refused.
    doc["harness_version"] = "0.2.0"
    n_de = len((run / "predictions/tatoeba/test-de.tsv").read_text().splitlines())
    doc["tasks"]["tatoeba"]["n"] = {"de": n_de + 1}
    write_json(run / "results.json", doc)
    with pytest.raises(UserError, match=f"{n_de} lines but the run scored {n_de + 1} examples") as exc:
        export_submission(run, tmp_path / "sub")
    assert "tatoeba/test-de.tsv" in str(exc.value)
    doc["tasks"]["tatoeba"]["n"] = {"de": n_de}
    write_json(run / "results.json", doc)
    assert export_submission(run, tmp_path / "sub").complete


# --- bad input ------------------------------------------------------------------------

def test_missing_file_is_a_user_error(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    with pytest.raises(UserError, match="not found") as exc:
        load_results(missing)
    assert str(missing) in str(exc.value)
    assert leaderboard_main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and len(err.strip().splitlines()) == 1


def test_malformed_json_names_file_and_line(tmp_path, capsys):
    p = tmp_path / "bad.json"
    p.write_text('{"schema": "xtreme-harness/results/v1",\n "tasks": {,}\n}')
    with pytest.raises(UserError, match="malformed JSON") as exc:
        load_results(p)
    assert f"{p}:2" in str(exc.value)
    assert leaderboard_main([str(p)]) == 2
    assert str(p) in capsys.readouterr().err


def test_other_schema_is_refused(tmp_path):
    p = write_json(tmp_path / "other.json", {"schema": "someone-else/results/v3", "tasks": {}, "overall": {}})
    with pytest.raises(UserError, match="unsupported schema 'someone-else/results/v3'") as exc:
        load_results(p)
    assert str(p) in str(exc.value)
    q = write_json(tmp_path / "list.json", [1, 2, 3])
    with pytest.raises(UserError, match="expected a JSON object") as exc:
        load_results(q)
    assert str(q) in str(exc.value)
    r = write_json(tmp_path / "notresults.json", {"accuracy": 0.9})
    with pytest.raises(UserError, match="not a results file") as exc:
        load_results(r)
    assert str(r) in str(exc.value)


def test_usage_errors(tmp_path, capsys):
    assert leaderboard_main(["--reference", "none"]) == 2
    assert "nothing to show" in capsys.readouterr().err
    assert leaderboard_main(["--format", "pdf", "x.json"]) == 2
    folder = tmp_path / "empty"
    folder.mkdir()
    assert leaderboard_main([str(folder)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_references_only_board_renders():
    refs = load_references("all")
    md = render(build_board([], refs), "md")
    mbert = next(r for r in refs if r.ref.model == "mBERT")
    assert f"| mBERT (Hu et al., 2020) | {mbert.score:.1f} |" in md
    assert "arXiv:2003.11080" in md and "Table 2" in md
    assert f"printed Avg {mbert.ref.printed_avg['Avg']} (the source's column, not our score)" in md


def test_bootstrap_skips_records_without_gold(tmp_path):
    a = _accuracy_run(tmp_path, "A", {"de": [1, 0], "en": [1, 1]})
    b = _accuracy_run(tmp_path, "B", {"de": [1, 1], "en": [0, 1]})
    write_records(tmp_path / "B", "xnli", "en", [{"id": "en-0", "pred": "neutral"}, {"id": "en-1", "pred": "neutral"}])
    res = paired_bootstrap(load_results(a), load_results(b), resamples=50)
    assert list(res.tasks["xnli"].languages) == ["de"]
    assert any("without gold labels" in n for n in res.notes)
