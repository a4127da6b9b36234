"""xtreme-leaderboard reads nothing it cannot vouch for and writes nothing by halves.

Figures that cannot be, marked-partial and non-official runs, output paths the system refuses (system folders,
FIFOs, link loops) and the modes and atomicity of what is written. The one-line errors themselves are fault cases
in ``faults_leaderboard.py``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import stat
from pathlib import Path

import pytest

from faultkit import line_of
from faults_leaderboard import DOC, REC, doc_text, jsonl, run_files
from test_leaderboard import MOCK, needs_mock, results_doc, scored_from, write_json
from xtreme_harness.cli import leaderboard_main
from xtreme_harness.io.errors import UserError
from xtreme_harness.leaderboard import build_board, entry_from_dict, export_submission, load_results, render
from xtreme_harness.tasks.results import check_record, check_results, read_records, RECORD_FIELDS
from xtreme_harness.io.jsonfile import JsonLocator
from xtreme_harness.tasks.scoring import score_folders
from xtreme_harness.spec import benchmark
from xtreme_harness.tasks.registry import registry


def materialise(root: Path, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def complete_doc(**changes) -> dict:
    """Every XTREME task at 60% in every language: a run with an XTREME score of 60."""
    per_task = {}
    for task in benchmark("xtreme")["tasks"]:
        spec = registry()[task]
        per_task[task] = {lang: {k: 60.0 for k in spec.metrics.primary} for lang in spec.languages("xtreme")}
    doc = results_doc(scored_from(per_task), name="full")
    doc["partial"] = False
    doc.update(changes)
    return doc


# --- figures are checked on reading, in one place -------------------------------------------------------

def test_the_figures_of_real_runs_pass(tmp_path):
    entry = entry_from_dict(complete_doc(), str(tmp_path / "none.json"))
    assert entry.score == pytest.approx(60.0) and not entry.partial
    edge = copy.deepcopy(DOC)
    edge["tasks"]["xnli"]["accuracy"]["de"] = 100.00000000000001  # a float-rounded 100 is still 100
    edge["tasks"]["xnli"]["avg_accuracy"] = edge["tasks"]["xnli"]["avg_metric"] = 100.00000000000001
    check_results(edge, "x.json")
    edge["tasks"]["xnli"]["accuracy"]["de"] = 0
    check_results(edge, "x.json")


@needs_mock
def test_the_official_mock_scores_pass():
    scored = score_folders(MOCK / "predictions", MOCK / "labels", warn=lambda msg: None)
    check_results(scored, "scores.json")
    check_results(results_doc(scored), "results.json")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 100.5, -0.1, True, "50", [50]])
def test_every_reader_refuses_an_impossible_figure(bad, tmp_path):
    doc = copy.deepcopy(DOC)
    doc["tasks"]["xnli"]["accuracy"]["de"] = bad
    with pytest.raises(UserError, match="tasks.xnli.accuracy.de is"):
        entry_from_dict(doc, "x.json")
    materialise(tmp_path, {**run_files("r", doc), "r/predictions/xnli/test-de.tsv": "neutral\nneutral\n"})
    with pytest.raises(UserError, match="tasks.xnli.accuracy.de is") as exc:
        load_results(tmp_path / "r")
    assert exc.value.line == line_of(doc_text(doc), '"de":') and exc.value.path == str(tmp_path / "r" / "results.json")
    with pytest.raises(UserError, match="tasks.xnli.accuracy.de is"):
        export_submission(tmp_path / "r", tmp_path / "sub", allow_partial=True)
    assert not (tmp_path / "sub").exists()


def test_record_fields_have_the_ranges_the_families_write():
    good = {"correct": 1, "em": 0, "f1": 0.25, "ap": 1.0, "tp": 2, "n_pred": 3, "n_gold": 2, "correct_tokens": 0}
    check_record({"id": "x", **good}, "r.jsonl", 1)
    assert set(RECORD_FIELDS) == set(good)
    bad = {"correct": [2, -1, 0.5, True, "1", None], "em": [2, 0.5, False], "f1": [1.5, -0.1, math.nan, True, "1"],
           "ap": [math.inf, 2], "tp": [-1, 1.5, True], "n_pred": [-3], "n_gold": [math.nan], "correct_tokens": [-1]}
    for key, values in bad.items():
        for v in values:
            with pytest.raises(UserError, match=f"{key} is"):
                check_record({"id": "x", **dict(good, **{key: v})}, "r.jsonl", 4)
    with pytest.raises(UserError, match="tp is 4 but n_gold is 2"):
        check_record({"id": "x", "tp": 4, "n_pred": 5, "n_gold": 2}, "r.jsonl", 1)
    with pytest.raises(UserError, match="record id"):
        check_record({"id": {"a": 1}}, "r.jsonl", 1)


def test_records_are_read_with_their_lines(tmp_path):
    p = tmp_path / "de.jsonl"
    p.write_text(jsonl(REC) + "\n" + json.dumps(dict(REC[0], id="de-2")) + "\n")
    assert [line for line, _ in read_records(p)] == [1, 2, 4]
    p.write_text(jsonl(REC) + "\n" + json.dumps(dict(REC[0], id="de-2", correct=3)) + "\n")
    with pytest.raises(UserError) as exc:
        read_records(p)
    assert exc.value.line == 4 and "correct is 3; expected 0 or 1" in exc.value.message


def test_the_locator_finds_the_last_of_repeated_keys():
    text = '{"a": {"b": 1},\n "a": {\n  "b": NaN}}'
    assert json.loads(text)["a"]["b"] != json.loads(text)["a"]["b"]  # NaN: the second one is kept
    assert JsonLocator(text).line(("a", "b")) == 3
    assert JsonLocator(text).line(("a", "missing")) == 2
    assert JsonLocator(text).line(("nothing",)) is None


# --- a run marked partial or made off XTREME's protocol shows as such ---------------------------------------

def test_a_run_marked_partial_has_no_xtreme_score(tmp_path):
    full = entry_from_dict(complete_doc(), "full.json")
    assert full.score == pytest.approx(60.0)
    marked = entry_from_dict(complete_doc(partial=True), "marked.json")
    assert marked.partial and marked.score is None and "all_task" not in marked.overall
    assert any("marks the run partial" in n for n in marked.notes)
    md = render(build_board([marked]), "md")
    row = next(line for line in md.splitlines() if line.startswith("| full |"))
    assert row.split("|")[2].strip() == "–†"


def test_a_replaced_builtin_task_counts_in_no_overall_score():
    doc = complete_doc()
    doc["coverage"]["xnli"]["replaces_builtin"] = "my-specs/xnli.yaml"
    with pytest.raises(UserError, match="xnli were evaluated with a replacement spec"):
        entry_from_dict(doc, "claims.json")  # a score the file cannot have
    doc["overall"] = {k: v for k, v in doc["overall"].items() if k not in ("all_task", "classification")}
    entry = entry_from_dict(doc, "replaced.json")
    assert not entry.tasks["xnli"].complete and entry.score is None and "classification" not in entry.overall
    assert "tagging" in entry.overall
    assert any("replaces the built-in one (my-specs/xnli.yaml)" in n for n in entry.notes)


def test_non_official_settings_are_noted():
    doc = complete_doc(config={"limit": 5, "qa_nbest": "real-tokens"})
    doc["model"]["protocol"] = "zero-shot prompted"
    notes = entry_from_dict(doc, "x.json").notes
    assert any("--limit" in n for n in notes)
    assert any(n.startswith("not XTREME's protocol: QA n-best over real tokens only") for n in notes)
    assert "protocol: zero-shot prompted, not XTREME's fine-tuned transfer" in notes
    md = render(build_board([entry_from_dict(doc, "x.json")]), "md")
    assert "full: protocol: zero-shot prompted" in md


# --- output paths the system refuses, before any work ---------------------------------------------------

@pytest.mark.parametrize("option", ["--out", "--plots"])
@pytest.mark.parametrize("where", ["/proc/xtreme-board", "/sys/xtreme-board", "/dev/xtreme-board"])
def test_outputs_in_system_folders_are_refused(option, where, tmp_path, capsys):
    materialise(tmp_path, run_files("r"))
    assert leaderboard_main([str(tmp_path / "r"), "--reference", "none", option, where]) == 2
    assert f"{where}: {option} lies in a system folder" in one_error(capsys)
    assert leaderboard_main(["export", str(tmp_path / "r"), "--out", where]) == 2
    assert "lies in a system folder" in one_error(capsys)


def test_fifos_and_link_loops_are_named(tmp_path, capsys):
    materialise(tmp_path, run_files("r"))
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert leaderboard_main([str(fifo), "--reference", "none"]) == 2
    assert f"{fifo}: expected a results file (a regular file), found a FIFO" in one_error(capsys)
    run = tmp_path / "fifo-run"
    run.mkdir()
    os.mkfifo(run / "results.json")
    assert leaderboard_main([str(run), "--reference", "none"]) == 2
    assert "found a FIFO" in one_error(capsys)

    loop = tmp_path / "loop"
    os.symlink(tmp_path / "loop2", loop)
    os.symlink(loop, tmp_path / "loop2")
    for args in ([str(loop)], [str(tmp_path / "r"), str(loop)], ["--compare", str(tmp_path / "r"), str(loop)]):
        assert leaderboard_main([*args, "--reference", "none"]) == 2
        assert f"{loop}: results file: symbolic link loop" in one_error(capsys)
    assert leaderboard_main([str(tmp_path / "r"), "--out", str(loop / "board.md")]) == 2
    assert "symbolic link loop" in one_error(capsys)
    assert leaderboard_main([str(tmp_path / "r"), "--plots", str(loop)]) == 2
    assert "symbolic link loop" in one_error(capsys)


def test_record_folders_that_cannot_be_walked_are_named(tmp_path, capsys):
    materialise(tmp_path, {**run_files("a"), **run_files("b")})
    records = tmp_path / "b" / "records" / "xnli"
    (records / "de.jsonl").unlink()
    os.symlink(records / "de.jsonl", records / "de.jsonl")  # a link to itself
    assert leaderboard_main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--reference", "none"]) == 2
    assert f"{records / 'de.jsonl'}: records file: symbolic link loop" in one_error(capsys)
    (records / "de.jsonl").unlink()
    os.mkfifo(records / "de.jsonl")
    assert leaderboard_main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--reference", "none"]) == 2
    assert "found a FIFO" in one_error(capsys)
    (records / "de.jsonl").unlink()
    records.rmdir()
    os.symlink(records, records)
    assert leaderboard_main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--reference", "none"]) == 2
    assert f"{records}: records folder: symbolic link loop" in one_error(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_record_folder_is_named(tmp_path, capsys):
    materialise(tmp_path, {**run_files("a"), **run_files("b")})
    records = tmp_path / "b" / "records" / "xnli"
    records.chmod(0)
    try:
        assert leaderboard_main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--reference", "none"]) == 2
        assert "permission denied" in one_error(capsys)
    finally:
        records.chmod(0o755)


def test_export_refuses_a_results_file_it_cannot_read(tmp_path, capsys):
    materialise(tmp_path, {"r/predictions/xnli/test-de.tsv": "neutral\n"})
    os.mkfifo(tmp_path / "r" / "results.json")
    assert leaderboard_main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "sub"), "--allow-partial"]) == 2
    assert "found a FIFO" in one_error(capsys) and not (tmp_path / "sub").exists()


# --- what is written: whole files, with the user's umask ------------------------------------------------

@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


@needs_mock
def test_board_and_plots_keep_the_umask_and_leave_no_temp_files(tmp_path, umask_027):
    scored = score_folders(MOCK / "predictions", MOCK / "labels", warn=lambda msg: None)
    run = write_json(tmp_path / "run" / "results.json", results_doc(scored, name="mock"))
    out, plots = tmp_path / "site" / "board.md", tmp_path / "site" / "plots"
    assert leaderboard_main([str(run), "--out", str(out), "--plots", str(plots), "--reference", "none"]) == 0
    pngs = sorted(plots.iterdir())
    assert pngs and all(p.suffix == ".png" and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    for p in [out, *pngs]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p
    assert not list(tmp_path.rglob("*.tmp"))
    assert f"](plots/{pngs[0].name})" in out.read_text() or "](plots/" in out.read_text()


def test_a_plot_that_fails_to_write_leaves_nothing(tmp_path, monkeypatch):
    from xtreme_harness.io import files as io

    def broken(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", broken)
    with pytest.raises(io.UserError, match=r"p\.png: output file: no space left on the device$"):
        io.atomic_write_bytes(tmp_path / "p.png", b"\x89PNG" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_long_model_names_make_short_plot_names(tmp_path):
    from xtreme_harness.leaderboard.plots import slug

    assert len(slug("x" * 1000)) <= 100 and slug("../..") == "model"


@needs_mock
def test_export_folder_keeps_the_umask(tmp_path, umask_027):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(MOCK / "predictions", run / "predictions")
    write_json(run / "results.json", results_doc(score_folders(MOCK / "predictions", MOCK / "labels",
                                                               warn=lambda msg: None)))
    out = tmp_path / "submission"
    assert export_submission(run, out).complete
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "xnli").stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "xnli" / "test-de.tsv").stat().st_mode) == 0o640


def test_a_damaged_state_is_recomputed_not_read(tmp_path):
    from xtreme_harness.tasks.results import read_state

    good = {"fingerprint": "f", "task": "xnli", "lang": "de", "n": 2, "stats": {}, "metrics": {"accuracy": 50.0},
            "secondary": {"macro_f1": 40.0}}
    p = tmp_path / "de.json"
    p.write_text(json.dumps(good))
    assert read_state(p) == good
    for bad in ([good], {**good, "n": -1}, {**good, "n": True}, {**good, "metrics": {"accuracy": math.nan}},
                {**good, "secondary": {"macro_f1": 140.0}}, {**good, "stats": [1]}):
        p.write_text(json.dumps(bad))
        assert read_state(p) is None, bad
    p.write_text("[" * 100_000 + "]" * 100_000)
    assert read_state(p) is None
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert read_state(fifo) is None  # refused at once: a FIFO would block the read
