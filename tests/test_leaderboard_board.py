"""The board's rows and pages: model size (column, order, transfer gap by size), one row for a model scored in
several passes, custom tasks, lm-eval's own results files, XTREME-R titles and the absent XTREME-R reference rows,
canonical source links, readable heat-map colours."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from boardkit import complete_doc, custom_task_scores, flags, lmeval_file, trainer_run
from conftest import SHARED
from test_leaderboard import check_html, write_json
from xtreme_harness.cli import leaderboard_main
from xtreme_harness.leaderboard import load_results
from xtreme_harness.leaderboard.reference import available, shipped
from xtreme_harness.leaderboard.tables import MIN_CONTRAST, contrast_ratio, heat_colours
from xtreme_harness.spec import benchmark

LM_FILE = "results_2026-12-07T04-06-42.671509.json"


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def md_rows(text: str, section: str) -> list[list[str]]:
    part = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in part.splitlines()
            if line.startswith("| ")]


def run_json(tmp_path, *args) -> dict:
    out = tmp_path / "board.json"
    assert leaderboard_main([*map(str, args), "--out", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


# --- model size -----------------------------------------------------------------------------------------

def sized_runs(root: Path) -> Path:
    write_json(root / "large" / "results.json", complete_doc("large", value=65, step=-0.3, parameters=560_000_000))
    write_json(root / "small" / "results.json", complete_doc("small", value=55, step=-0.5, parameters=270_000_000))
    write_json(root / "xl" / "results.json", complete_doc("xl", value=70, step=-0.2, parameters=3_500_000_000))
    write_json(root / "unsized" / "results.json", complete_doc("unsized", value=40))
    return root


def test_size_column_order_and_gap_by_size(tmp_path):
    root = sized_runs(tmp_path / "runs")
    md = tmp_path / "board.md"
    assert leaderboard_main([str(root), "--sort", "size", "--reference", "none", "--out", str(md)]) == 0
    rows = md_rows(md.read_text(), "Leaderboard")
    assert rows[0][:3] == ["Model", "Params", "XTREME"]
    assert [(r[0], r[1]) for r in rows[2:]] == [("small", "270M"), ("large", "560M"), ("xl", "3.5B"),
                                                 ("unsized", "–")]
    # by score (the default) the order is the score's
    assert leaderboard_main([str(root), "--reference", "none", "--out", str(md)]) == 0
    assert [r[0] for r in md_rows(md.read_text(), "Leaderboard")[2:]] == ["xl", "large", "small", "unsized"]
    # the transfer gap per size, each recomputed here from the per-language figures
    board = run_json(tmp_path, root, "--reference", "none")
    gap_rows = next(s for s in board["sections"] if s["key"] == "transfer_gap_by_size")["rows"]
    assert [r["cells"]["parameters"]["value"] for r in gap_rows] == [270_000_000, 560_000_000, 3_500_000_000]
    for r, name in zip(gap_rows, ("small", "large", "xl")):
        row = next(x for x in board["rows"] if x["name"] == name)
        xnli = row["tasks"]["xnli"]["per_language"]["accuracy"]
        gap = xnli["en"] - sum(v for k, v in xnli.items() if k != "en") / (len(xnli) - 1)
        assert r["cells"]["xnli"]["value"] == pytest.approx(gap, abs=1e-12)
        assert r["cells"]["runs"]["value"] == 1
    assert next(x for x in board["rows"] if x["name"] == "xl")["parameters"] == 3_500_000_000


def test_parameters_come_from_training_too_and_bad_counts_are_refused(tmp_path, capsys):
    path = trainer_run(tmp_path, "r", 1, ["anli_plus"], xnli={"en": flags(10, 6)}, params=123_456_789)
    assert load_results(path).parameters == 123_456_789
    doc = json.loads(path.read_text())
    doc["model"]["parameters"] = 99
    path.write_text(json.dumps(doc, indent=1))
    assert leaderboard_main([str(path)]) == 2
    assert "model.parameters (99) disagrees with model.training.parameters (123456789)" in one_error(capsys)
    doc["model"]["parameters"] = "560M"
    del doc["model"]["training"]
    path.write_text(json.dumps(doc, indent=1))
    assert leaderboard_main([str(path)]) == 2
    assert "model.parameters is \"560M\"; expected the parameter count, a positive integer" in one_error(capsys)


def two_passes(root: Path) -> tuple[Path, Path]:
    """One model scored twice: test for every task but MLQA, dev for MLQA, in two output folders."""
    doc = complete_doc("xlmr-large", value=70, step=-0.2, parameters=560_000_000, path="ckpt/xlmr-large")
    test, dev = copy.deepcopy(doc), copy.deepcopy(doc)
    for t in list(doc["tasks"]):
        if t == "mlqa":
            del test["tasks"][t], test["coverage"][t]
        else:
            del dev["tasks"][t], dev["coverage"][t]
    dev["tasks"]["mlqa"]["split"] = "dev"
    test["overall"] = {k: v for k, v in test["overall"].items() if k not in ("all_task", "qa")}
    dev["overall"] = {}
    test["partial"] = dev["partial"] = True
    return write_json(root / "test-pass" / "results.json", test), write_json(root / "mlqa-dev" / "results.json", dev)


def test_a_model_scored_in_two_passes_is_one_row(tmp_path):
    a, b = two_passes(tmp_path / "runs")
    md = tmp_path / "board.md"
    assert leaderboard_main([str(a.parent), str(b.parent), "--reference", "none", "--out", str(md)]) == 0
    text = md.read_text()
    rows = md_rows(text, "Leaderboard")
    assert len(rows) == 3  # header, rule, one row
    header, row = rows[0], rows[2]
    cell = dict(zip(header, row))
    assert cell["MLQA F1"].endswith("ᵈ") and cell["MLQA EM"].endswith("ᵈ") and not cell["XNLI"].endswith("ᵈ")
    assert cell["XTREME"].endswith("ᵈ") and "†" not in cell["XTREME"]  # complete, but mixes dev and test
    assert "one model scored in 2 passes, merged into this row" in text and "split: mlqa dev" in text
    board = run_json(tmp_path, a.parent, b.parent, "--reference", "none")
    (row,) = board["rows"]
    assert row["tasks"]["mlqa"]["split"] == "dev" and row["tasks"]["xnli"]["split"] == "test"
    assert sorted(row["sources"]) == sorted([str(a), str(b)])
    expected = sum(t["avg_metric"] for t in [*json.loads(a.read_text())["tasks"].values(),
                                            *json.loads(b.read_text())["tasks"].values()]) / 9
    assert row["score"] == pytest.approx(expected, abs=1e-12)


def test_score_files_without_a_model_never_merge(tmp_path):
    a, b = two_passes(tmp_path / "runs")
    for path in (a, b):
        doc = json.loads(path.read_text())
        del doc["model"], doc["schema"]  # what xtreme-score --json writes: no model to merge by
        write_json(path, doc)
    assert len(run_json(tmp_path, a, b, "--reference", "none")["rows"]) == 2


def test_passes_that_share_a_task_stay_separate_rows(tmp_path):
    a, b = two_passes(tmp_path / "runs")
    doc = json.loads(b.read_text())
    doc["tasks"]["xnli"] = json.loads(a.read_text())["tasks"]["xnli"]
    write_json(b, doc)
    board = run_json(tmp_path, a, b, "--reference", "none")
    assert len(board["rows"]) == 2


# --- custom tasks ---------------------------------------------------------------------------------------

def with_custom(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    # the spec's metric reports macro-F1 too, but avg_metric is accuracy's: the primary figure is read off the file
    doc["tasks"]["sentiment"] = custom_task_scores({"en": {"accuracy": 80.0, "macro_f1": 70.0},
                                                    "de": {"accuracy": 70.0, "macro_f1": 61.0}}, primary=["accuracy"])
    doc["tasks"]["sentiment"]["split"] = "test"
    doc["coverage"]["sentiment"] = {"complete": True, "languages": ["en", "de"], "missing": []}
    return doc


def test_a_custom_task_has_its_column_and_never_enters_the_score(tmp_path):
    plain = complete_doc("run", value=62, step=-0.1)
    path = write_json(tmp_path / "r" / "results.json", with_custom(plain))
    e = load_results(path)
    assert e.tasks["sentiment"].primary == ("accuracy",) and e.tasks["sentiment"].avg_metric == 75.0
    assert e.score == pytest.approx(plain["overall"]["all_task"], abs=1e-12)
    md = tmp_path / "board.md"
    assert leaderboard_main([str(path), "--reference", "none", "--out", str(md)]) == 0
    text = md.read_text()
    rows = md_rows(text, "Leaderboard")
    cell = dict(zip(rows[0], rows[2]))
    assert cell["sentiment (not in score)"] == "75.0"
    assert cell["XTREME"] == f"{plain['overall']['all_task']:.1f}"
    assert "sentiment: not XTREME task(s)" in text and "never counted in the XTREME score" in text
    board = run_json(tmp_path, path, "--reference", "none")
    assert board["rows"][0]["tasks"]["sentiment"]["in_score"] is False
    assert board["rows"][0]["score"] == pytest.approx(plain["overall"]["all_task"], abs=1e-12)


def test_a_custom_task_in_the_transfer_table(tmp_path):
    root = tmp_path / "eval"
    for seed, (b, a) in {1: (60.0, 64.0), 2: (62.0, 63.0)}.items():
        trainer_run(root, f"base-s{seed}", seed, xnli={"en": flags(10, 5)},
                    extra={"sentiment": {"en": {"accuracy": b}, "de": {"accuracy": b - 10}}})
        trainer_run(root, f"anli-s{seed}", seed, ["anli_plus"], xnli={"en": flags(10, 6)},
                    extra={"sentiment": {"en": {"accuracy": a}, "de": {"accuracy": a - 10}}})
    board = run_json(tmp_path, root, "--bootstrap", "50")
    cell = board["transfer_matrix"]["anli_plus"]["sentiment"]
    assert cell["delta"] == pytest.approx(2.5) and cell["seeds"] == 2 and cell["per_seed"] == {"1": 4.0, "2": 1.0}
    section = next(s for s in board["sections"] if s["key"] == "transfer_matrix")
    assert ("sentiment", "sentiment") in [(c["key"], c["header"]) for c in section["columns"]]


# --- lm-eval's results files ----------------------------------------------------------------------------

LM_FIGURES = {"xnli": {"en": {"accuracy": 55.0}, "de": {"accuracy": 45.5}},
              "xquad": {"en": {"exact_match": 40.0, "f1": 55.0}, "de": {"exact_match": 30.0, "f1": 42.5}},
              "udpos": {"en": {"f1": 61.0}}}


def test_an_lmeval_file_is_a_prompted_row_beside_an_encoder(tmp_path):
    lm = lmeval_file(tmp_path / "lm-out" / "Qwen__Qwen2.5-0.5B-Instruct" / LM_FILE, LM_FIGURES, n_shot=2)
    enc = write_json(tmp_path / "encoder" / "results.json", complete_doc("xlmr-suite", value=60, step=-0.2))
    md = tmp_path / "board.md"
    assert leaderboard_main([str(tmp_path / "lm-out"), str(enc), "--reference", "none", "--per-language",
                             "--out", str(md)]) == 0
    text = md.read_text()
    rows = {r[0]: dict(zip(md_rows(text, "Leaderboard")[0], r)) for r in md_rows(text, "Leaderboard")[2:]}
    llm = rows["Qwen/Qwen2.5-0.5B-Instruct (lm-eval hf)"]
    assert llm["Protocol"] == "zero-shot prompted" and rows["xlmr-suite"]["Protocol"] == "fine-tuned transfer"
    assert llm["XTREME"] == "–†" and llm["XNLI"] == "50.2†" and llm["XQuAD F1"] == "48.8†"
    assert llm["XQuAD EM"] == "35.0†" and llm["UD-POS"] == "61.0†" and llm["PAWS-X"] == "–"
    assert "model hf, model_args pretrained=Qwen/Qwen2.5-0.5B-Instruct,dtype=bfloat16; 2-shot (English examples)" \
        in text
    assert "xnli: 2/15 languages, averaged over those present" in text
    xnli = md_rows(text, "XNLI by language")
    hdr = xnli[0]
    qwen = dict(zip(hdr, next(r for r in xnli if r[0].startswith("Qwen"))))
    assert qwen["en"] == "55.0" and qwen["de"] == "45.5" and qwen["ar"] == "–"
    board = run_json(tmp_path, lm, enc, "--reference", "none")
    row = next(r for r in board["rows"] if r["protocol"] == "zero-shot prompted")
    assert row["lm_eval"]["model"] == "hf" and row["lm_eval"]["n_shot"] == [2]
    assert row["tasks"]["xquad"]["averages"] == {"exact_match": 35.0, "f1": 48.75}
    assert row["tasks"]["xquad"]["avg_metric"] == pytest.approx(41.875, abs=1e-12)
    assert row["tasks"]["xnli"]["missing"][:2] == ["ar", "bg"] and row["partial"] is True


def test_lmeval_files_of_one_model_merge_and_the_encoder_is_fine_tuned(tmp_path):
    lmeval_file(tmp_path / "a" / LM_FILE, {"xnli": LM_FIGURES["xnli"]})
    lmeval_file(tmp_path / "b" / LM_FILE, {"udpos": LM_FIGURES["udpos"]})
    board = run_json(tmp_path, tmp_path / "a", tmp_path / "b", "--reference", "none")
    assert len(board["rows"]) == 1 and set(board["rows"][0]["tasks"]) == {"xnli", "udpos"}
    enc = lmeval_file(tmp_path / "enc" / LM_FILE, {"xnli": LM_FIGURES["xnli"]}, model="xtreme-encoder",
                      model_args={"pretrained": "suite/"}, model_name="suite/")
    e = load_results(enc)
    assert e.protocol == "fine-tuned transfer" and e.name == "suite/ (lm-eval xtreme-encoder)"
    dev = load_results(lmeval_file(tmp_path / "dev" / LM_FILE, {"xnli": LM_FIGURES["xnli"]}, split="dev"))
    assert dev.tasks["xnli"].split == "dev"


@pytest.mark.parametrize("change,says", [
    (lambda d: d["results"].update({"arc_easy": {"acc,none": 0.5}}),
     "lm-eval task 'arc_easy' is not one of this project's xtreme_<task>_<lang> tasks"),
    (lambda d: d["results"].update({"xtreme_bucc2018_de": {"f1,none": 50.0}}),
     "lm-eval task 'xtreme_bucc2018_de' names no task of this project's lm-eval tasks"),
    (lambda d: d["results"].update({"xtreme_xnli_xx": {"accuracy,none": 50.0}}),
     "'xx' is not an XTREME language of xnli"),
    (lambda d: d["results"]["xtreme_xnli_de"].update({"accuracy,none": "N/A"}),
     "results.xtreme_xnli_de.\"accuracy,none\" is \"N/A\"; expected a percentage from 0 to 100"),
    (lambda d: d["results"]["xtreme_xnli"].update({"accuracy,none": 51.0}),
     "results.xtreme_xnli.\"accuracy,none\" = 51.0 but its languages' figures average to 50.25"),
    (lambda d: d["results"]["xtreme_xnli_de"].update({"accuracy,none": 145.5}),
     "results.xtreme_xnli_de.\"accuracy,none\" is 145.5; expected a percentage from 0 to 100"),
])
def test_a_bad_lmeval_file_is_one_line_exit_2(change, says, tmp_path, capsys):
    path = lmeval_file(tmp_path / "lm" / LM_FILE, {"xnli": LM_FIGURES["xnli"]})
    doc = json.loads(path.read_text())
    change(doc)
    text = json.dumps(doc, indent=2)
    path.write_text(text)
    assert leaderboard_main([str(path)]) == 2
    err = one_error(capsys)
    assert f"{path}:" in err and says in err, err


def test_real_lmeval_output_shape_is_read(tmp_path):
    """Every top-level key lm-eval 0.4.13 writes is in the fixture (checked against a file it wrote here while
    building this feature), so the reader is exercised on the real shape."""
    doc = json.loads(lmeval_file(tmp_path / LM_FILE, {"xnli": LM_FIGURES["xnli"]}).read_text())
    assert {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
            "config", "git_hash", "date", "pretty_env_info", "transformers_version", "lm_eval_version",
            "upper_git_hash", "task_hashes", "model_source", "model_name", "model_name_sanitized",
            "system_instruction", "system_instruction_sha", "fewshot_as_multiturn", "chat_template",
            "chat_template_sha", "total_evaluation_time_seconds"} <= set(doc)
    assert doc["results"]["xtreme_xnli_ar"] == {"name": "xtreme_xnli_ar", "alias": "xtreme_xnli_ar", "sample_len": 0}
    assert doc["results"]["xtreme_xnli_de"]["accuracy_stderr,none"] == "N/A"


# --- XTREME-R boards, titles, and the reference data ----------------------------------------------------

def xtreme_r_runs(root: Path) -> Path:
    write_json(root / "a" / "results.json", complete_doc("xlmr-r", version="xtreme-r", value=60, step=-0.4,
                                                         parameters=560_000_000))
    write_json(root / "b" / "results.json", complete_doc("mbert-r", version="xtreme-r", value=50, step=-0.3))
    return root


def test_xtreme_r_board_is_titled_and_says_no_published_rows_exist(tmp_path):
    root = xtreme_r_runs(tmp_path / "runs")
    for fmt in ("md", "html", "json", "csv", "latex"):
        ext = {"latex": "tex"}.get(fmt, fmt)
        out = tmp_path / f"board.{ext}"
        assert leaderboard_main([str(root), "--out", str(out), "--no-plots"]) == 0
        text = out.read_text(encoding="utf-8")
        assert "No published XTREME-R rows are available in the reference data" in text, fmt
    html = (tmp_path / "board.html").read_text()
    check_html(html)
    assert "<title>XTREME-R leaderboard</title>" in html and "<h1>XTREME-R leaderboard</h1>" in html
    assert '<p class="notice" role="note">No published XTREME-R rows' in html
    assert "Hu et al." not in html  # no XTREME reference row on an XTREME-R board
    doc = json.loads((tmp_path / "board.json").read_text())
    assert doc["title"] == "XTREME-R leaderboard" and all(r["kind"] == "run" for r in doc["rows"])
    assert (tmp_path / "board.md").read_text().startswith("# XTREME-R leaderboard\n")
    out = tmp_path / "titled.html"
    assert leaderboard_main([str(root), "--out", str(out), "--title", "My XTREME-R study", "--no-plots"]) == 0
    assert "<title>My XTREME-R study</title>" in out.read_text()
    # an XTREME board keeps its title and its reference rows, with no such note
    xt = write_json(tmp_path / "x" / "results.json", complete_doc("x", value=60))
    out = tmp_path / "x.md"
    assert leaderboard_main([str(xt), "--out", str(out)]) == 0
    assert out.read_text().startswith("# XTREME leaderboard\n") and "No published" not in out.read_text()


def test_the_reference_data_holds_no_xtreme_r_rows():
    """The reason for the note: the only allowed source of published figures has XTREME rows only."""
    published = SHARED / "reference" / "published_rows.yaml"
    if not published.is_file():
        pytest.skip(f"{published} is not available")
    entries = yaml.safe_load(published.read_text(encoding="utf-8"))["entries"]
    xtreme_r_only = set(benchmark("xtreme-r")["tasks"]) - set(benchmark("xtreme")["tasks"])
    for e in entries:
        figures = {**(e.get("figures") or {}), **(e.get("delta_figures") or {}), **(e.get("per_language") or {})}
        assert not set(figures) & xtreme_r_only, e["id"]
        assert "XTREME-R" not in json.dumps(e.get("setting", "")), e["id"]
    assert all(r.version == "xtreme" for r in shipped())


# --- links and colours ----------------------------------------------------------------------------------

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.heat: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
        if tag == "td" and "heat" in (a.get("class") or "").split():
            m = re.fullmatch(r"background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})", a.get("style", ""))
            assert m, a
            self.heat.append((m.group(1), m.group(2)))


def test_shipped_sources_link_to_the_papers_canonical_pages():
    for ref_id, path in available().items():
        source = yaml.safe_load(path.read_text(encoding="utf-8"))["source"]
        arxiv = source["paper"]["arxiv"]
        assert source["url"] == f"https://arxiv.org/abs/{arxiv}", ref_id
    for e in shipped():
        assert re.fullmatch(r"https://arxiv\.org/abs/\d{4}\.\d{4,5}", e.ref.canonical_url)


def test_html_links_only_canonical_pages_and_heat_cells_are_readable(tmp_path):
    run = write_json(tmp_path / "r" / "results.json", complete_doc("run", value=40, step=3.0))
    out = tmp_path / "board.html"
    assert leaderboard_main([str(run), "--reference", "all,x-stilts,rembert-paper,mt5-readme", "--per-language",
                             "--no-plots", "--out", str(out)]) == 0
    page = out.read_text()
    check_html(page)
    p = Links()
    p.feed(page)
    assert set(p.hrefs) == {"https://arxiv.org/abs/2003.11080", "https://arxiv.org/abs/2005.13013",
                            "https://arxiv.org/abs/2010.12821", "https://arxiv.org/abs/2010.11934"}
    # where the figures were transcribed from (a copy, a search index) is said, but never linked
    assert "<code>https://github.com/iofu728/PaperRead/blob/" in page and "GitHub search index" in page
    assert len(p.heat) > 100
    for bg, fg in p.heat:
        assert contrast_ratio(bg, fg) >= MIN_CONTRAST, (bg, fg)
    for value in (0.0, 12.5, 50.0, 87.0, 100.0):
        assert contrast_ratio(*heat_colours(value)) >= 7.0  # AAA, with room to spare
    for value in (-30.0, -0.1, 0.1, 30.0):
        assert contrast_ratio(*heat_colours(value, "delta")) >= 7.0
    assert "position:sticky;left:0" in page and ".scroll{overflow-x:auto" in page
