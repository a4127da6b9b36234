"""Published reference rows: every figure as ../shared/reference/published_rows.yaml prints it, selection,
per-language tables, comparisons with a published row and the published transfer matrix."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import SHARED
from test_leaderboard import results_doc, scored_from, write_json
from xtreme_harness.cli import leaderboard_main
from xtreme_harness.io.errors import UserError
from xtreme_harness.leaderboard import build_board, load_reference, load_references, render
from xtreme_harness.leaderboard.reference import available, find_row, parse_reference, shipped
from xtreme_harness.tasks.scoring import overall_scores
from xtreme_harness.spec import benchmark
from xtreme_harness.tasks.registry import registry

PUBLISHED = SHARED / "reference" / "published_rows.yaml"
TASKS = list(benchmark("xtreme")["tasks"])
MBERT = "hu2020_xtreme_v3_t2_mbert_zeroshot"
DEV_BASELINE = "phang2020_v1_t2_xlmr_large_dev_baseline"


@pytest.fixture(scope="module")
def published() -> dict[str, dict]:
    if not PUBLISHED.is_file():
        pytest.skip(f"{PUBLISHED} is not available")
    entries = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))["entries"]
    return {e["id"]: e for e in entries}


@pytest.fixture(scope="module")
def rows() -> dict[str, object]:
    return {e.ref.row_id: e for e in shipped()}


def raw_files() -> dict[str, dict]:
    return {ref_id: yaml.safe_load(p.read_text(encoding="utf-8")) for ref_id, p in available().items()}


def full(task: str, value: float) -> dict:
    spec = registry()[task]
    return {lang: {k: value for k in spec.metrics.primary} for lang in spec.languages("xtreme")}


def run_file(tmp_path, name: str, tasks: dict[str, float], split: str = "test", **kw):
    doc = results_doc(scored_from({t: full(t, v) for t, v in tasks.items()}), name=name, **kw)
    for t in doc["tasks"].values():
        t["split"] = split
    return write_json(tmp_path / name / "results.json", doc)


# --- the data: every one of the 49 entries, each figure as the shared file prints it ---------

def test_every_entry_is_loaded_once(published, rows):
    assert len(published) == 49
    assert set(rows) == set(published), "the shipped rows are exactly the sourced entries"


def test_every_figure_equals_the_shared_file(published, rows):
    for row_id, src in published.items():
        e = rows[row_id]
        p = e.ref
        if src.get("figures_are") == "delta":
            assert p.is_delta and p.delta_figures == src["delta_figures"] and not e.tasks
            assert p.delta_vs == src["delta_vs"] and p.baseline.ref.row_id == src["delta_vs"]
            assert p.printed_avg == {"Avg": src["average_delta"]}
            continue
        assert not p.is_delta
        given = {(t, k): v for t, figs in src["figures"].items() for k, v in figs.items()}
        loaded = {(t, k): v for t, ts in e.tasks.items() for k, v in ts.avgs.items() if v is not None}
        assert loaded == given, row_id
        aliases = raw_files()[p.file_id].get("figure_aliases") or {}
        for t, figs in (src.get("per_language") or {}).items():
            for k, by_lang in figs.items():
                ours = aliases.get(t, {}).get(k, k)
                assert e.tasks[t].per_lang[ours] == by_lang, (row_id, t, k)
                if ours != k:
                    assert p.printed_labels[t][ours] == k
        assert sum(len(f) for ts in e.tasks.values() for f in ts.per_lang.values()) == \
            sum(len(f) for figs in (src.get("per_language") or {}).values() for f in figs.values())
        printed = {label: src[k] for k, label in (("average", "Avg"), ("average_over_tasks_printed", "Avg_task"),
                                                  ("average_over_categories_printed", "Avg (over categories)"))
                   if k in src}
        assert p.printed_avg == printed, row_id
        assert p.per_language_tables == src.get("per_language_tables", {})


def test_every_row_keeps_its_source_and_marks(published, rows):
    files = raw_files()
    for row_id, src in published.items():
        e = rows[row_id]
        p = e.ref
        source = files[p.file_id]["source"]
        assert source["paper"] == src["paper"] and source["url_read"] == src["url_read"] == p.url_read
        assert source["table"] == src["table"] and " ".join(src["table"].split()) == e.table
        assert source.get("source_document") == src.get("source_document")
        assert p.version_read == src["paper"].get("version_read") and p.caveat
        assert src["paper"]["arxiv"] in e.source
        assert p.split_text == src["split"] and p.split_exceptions == src.get("split_exceptions", {})
        assert p.model == src["model"] and p.label_printed == src["table_row_label"] and p.setting == src["setting"]
        assert sorted(p.file_notes + p.notes) == sorted(src["notes"]), row_id
        per_lang_avg = src.get("per_language_table_avg_column") or {}
        aliases = files[p.file_id].get("figure_aliases") or {}
        assert p.per_language_printed_avg == {t: {aliases.get(t, {}).get(k, k): v for k, v in figs.items()}
                                              for t, figs in per_lang_avg.items()}
        second_hand = row_id.startswith(("chung2021", "xue2021"))
        assert bool(p.second_hand) == second_hand and ("second-hand" in e.name) == second_hand
        if row_id.startswith("hu2020"):
            assert "arXiv v3" in p.caveat and "ICML" in p.caveat
        if src.get("figures_are") == "delta":
            assert p.split == "dev" and "dev" in e.name and "deltas" in e.name
            assert p.intermediate == src["table_row_label"] and p.mlm == ("With MLM" in src["setting"])


def test_raw_rows_copy_the_shared_entries(published):
    """The shipped rows are the shared entries less their source block: the same keys, byte-equal values."""
    copied = ("model", "table_row_label", "setting", "split", "split_exceptions", "figures_are", "delta_vs",
              "average", "average_delta", "average_over_tasks_printed", "average_over_categories_printed",
              "params", "figures", "delta_figures", "per_language", "per_language_tables",
              "per_language_table_avg_column")
    for doc in raw_files().values():
        for row in doc["rows"]:
            src = published[row["id"]]
            for k in copied:
                assert row.get(k) == src.get(k), (row["id"], k)


def test_absent_means_blank_and_old_unsourced_figures_are_gone(rows):
    for path in available().values():
        text = path.read_text(encoding="utf-8")
        assert "not checked against the paper" not in text and ": null" not in text
    names = {e.name for e in rows.values()}
    assert not any("XLM-R Large + X-STILTs" in n for n in names)
    # The old x-stilts file gave NER 64.7 and TyDiQA F1 76.0 under Phang et al.; that is not what they print.
    for e in rows.values():
        if e.ref.file_id == "x-stilts" and "panx" in e.tasks:
            assert e.tasks["panx"].avgs["f1"] != 64.7
    # A figure the source does not print is absent: no EM for TyDiQA's human row, no POS in the mT5 README.
    human = rows["hu2020_xtreme_v3_t2_human"]
    assert human.tasks["tydiqa"].avgs["exact_match"] is None and "panx" not in human.tasks
    assert "udpos" not in rows["xue2021_mt5_readme_mbert"].tasks


def test_scores_only_for_rows_with_every_task_figure(rows):
    scored = set()
    for e in rows.values():
        complete = {t for t, ts in e.tasks.items() if ts.avg_metric is not None}
        official, _ = overall_scores({t: {"avg_metric": e.tasks[t].avg_metric} for t in complete}, complete,
                                     "xtreme")
        assert e.overall == official
        if e.score is not None:
            assert complete == set(TASKS)
            scored.add(e.ref.row_id)
        else:
            assert complete != set(TASKS)
    assert MBERT in scored and DEV_BASELINE in scored
    assert not any(r.startswith(("chung2021", "xue2021")) for r in scored)  # no BUCC/Tatoeba, or F1-only QA


# --- selection -------------------------------------------------------------------------

def test_selection_by_file_row_id_and_model():
    assert [e.ref.row_id for e in load_references(MBERT)] == [MBERT]
    by_model = load_references("mBERT")
    assert [e.ref.row_id for e in by_model] == [MBERT, "xue2021_mt5_readme_mbert"]
    assert [e.ref.row_id for e in load_references("mbert")] == [e.ref.row_id for e in by_model]
    assert len(load_references(f"mBERT,{MBERT}")) == 2  # a row named twice is shown once
    assert len(load_references("x-stilts")) == 21 and len(load_references("rembert-paper")) == 5
    assert len(load_references("all,mt5-readme")) == 4 + 12
    assert [e.ref.row_id for e in load_references("XLM-R Large")] == [
        "hu2020_xtreme_v3_t2_xlmr_large_zeroshot", "chung2021_rembert_t16_xlmr"]
    with pytest.raises(UserError, match="did you mean mBERT"):
        load_references("mBER")
    with pytest.raises(UserError, match="cannot be combined"):
        load_references("none,mBERT")
    path = available()["rembert-paper"]
    assert [e.ref.row_id for e in load_references(str(path))] == [e.ref.row_id for e in load_reference(path)]


def test_default_board_shows_only_zero_shot_test_rows():
    refs = load_references("all")
    assert refs and all(r.ref.split == "test" and not r.ref.split_exceptions and not r.ref.is_delta
                        and not r.ref.second_hand and r.ref.transfer == "zero-shot" for r in refs)
    md = render(build_board([], refs), "md")
    assert "Phang" not in md and "dev" not in md.split("## Leaderboard")[1].split("\n- ")[0]


def test_cli_reference_by_model_and_id(tmp_path):
    run = run_file(tmp_path, "mine", {"xnli": 70.0})
    out = tmp_path / "board.md"
    assert leaderboard_main([str(run), "--reference", "mBERT", "--out", str(out)]) == 0
    md = out.read_text()
    assert "| mBERT (Hu et al., 2020) |" in md and "| mBERT (mT5 README; second-hand, split unstated) |" in md
    assert "XLM (Hu et al., 2020)" not in md
    assert leaderboard_main([str(run), "--reference", "hu2020_xtreme_v3_t2_xlm_zeroshot", "--out", str(out)]) == 0
    assert "| XLM (Hu et al., 2020) |" in out.read_text() and "mBERT" not in out.read_text()
    assert leaderboard_main([str(run), "--reference", "no-such-row"]) == 2


def test_find_row_for_compare():
    assert find_row("mBERT").ref.row_id == MBERT  # the default row wins over the mT5 README copy
    assert find_row(DEV_BASELINE).ref.row_id == DEV_BASELINE
    with pytest.raises(UserError, match="names 2 reference rows"):
        find_row("Human")
    with pytest.raises(UserError, match="is a reference file"):
        find_row("x-stilts")
    with pytest.raises(UserError, match="neither a results file nor a reference row"):
        find_row("nothing-like-it")


# --- per-language ----------------------------------------------------------------------

def test_per_language_table_shows_published_figures(tmp_path):
    run = run_file(tmp_path, "mine", {"xnli": 70.0, "udpos": 60.0})
    out = tmp_path / "board.md"
    assert leaderboard_main([str(run), "--per-language", "--reference", MBERT, "--out", str(out)]) == 0
    md = out.read_text()
    mbert = find_row(MBERT)
    langs = list(registry()["xnli"].languages("xtreme"))
    figs = mbert.tasks["xnli"].per_lang["accuracy"]
    row = "| mBERT (Hu et al., 2020) | Acc | " + " | ".join(f"{figs[lang]:.1f}" for lang in langs) + \
        f" | {mbert.tasks['xnli'].avgs['accuracy']:.1f} |"
    assert row in md.split("## XNLI by language")[1]
    assert "| mine | Acc | " + " | ".join("70.0" for _ in langs) + " | 70.0 |" in md
    pos = md.split("## UD-POS by language")[1].split("\n## ")[0]
    assert "| mBERT (Hu et al., 2020) | F1 (printed Acc) |" in pos and "printed as Acc and read as F1" in pos
    assert "## PAWS-X by language" not in md  # only the tasks the runs have
    # Without runs, every task the rows have.
    refs_only = render(build_board([], load_references(MBERT), per_language=True), "md")
    assert refs_only.count(" by language") == 9


def test_published_per_language_blank_where_not_printed():
    mmte = find_row("hu2020_xtreme_v3_t2_mmte_zeroshot")
    board = build_board([], [mmte], per_language=True)
    mlqa = next(s for s in board.sections if s.key == "per_language.mlqa")
    em = next(r for r in mlqa.rows if r.key.endswith("|exact_match"))
    assert all(c.value is None for c in em.cells[2:-1]) and em.cells[-1].value == mmte.tasks["mlqa"].avgs["exact_match"]
    assert any("no per-language EM printed" in n for n in mlqa.notes)
    xnli = next(s for s in board.sections if s.key == "per_language.xnli")
    assert any("printed inconsistency" in n for n in xnli.notes)


# --- --compare RUN ROW -----------------------------------------------------------------

def test_compare_run_with_published_row(tmp_path):
    run = run_file(tmp_path, "mine", {"xnli": 70.0, "xquad": 60.0})
    out = tmp_path / "cmp.md"
    assert leaderboard_main([str(run), "--compare", str(run), "mBERT", "--out", str(out)]) == 0
    md = out.read_text()
    mbert = find_row(MBERT)
    xnli = mbert.tasks["xnli"].avgs["accuracy"]
    assert f"| XNLI avg_metric | 70.0 | {xnli:.1f} | {xnli - 70.0:+.1f} |" in md
    em = mbert.tasks["xquad"].avgs["exact_match"]
    assert f"| XQuAD EM | 60.0 | {em:.1f} | {em - 60.0:+.1f} |" in md
    assert "No paired bootstrap: a published row has no per-example records" in md
    assert "## Paired bootstrap" not in md
    by_lang = md.split("## Difference B − A by language")[1]
    en = mbert.tasks["xnli"].per_lang["accuracy"]["en"]
    assert f"| XNLI | en | Acc | 70.0 | {en:.1f} | {en - 70.0:+.1f} |" in by_lang
    assert "| XQuAD | th | EM |" in by_lang
    # The row first: B − A is then the run's gain over the published row.
    assert leaderboard_main([str(run), "--compare", MBERT, str(run), "--out", str(out)]) == 0
    assert f"| XNLI avg_metric | {xnli:.1f} | 70.0 | {70.0 - xnli:+.1f} |" in out.read_text()
    # The compared row is on the board even when --reference leaves it out.
    assert leaderboard_main([str(run), "--reference", "none", "--compare", str(run), MBERT, "--out", str(out)]) == 0
    assert "| mBERT (Hu et al., 2020) |" in out.read_text().split("## Difference")[0]


def test_compare_refuses_dev_row_against_test_run(tmp_path, capsys):
    run = run_file(tmp_path, "mine", {"xnli": 70.0})
    assert leaderboard_main([str(run), "--compare", str(run), DEV_BASELINE]) == 2
    err = capsys.readouterr().err
    assert "compare like with like" in err and "tasks.xnli.split" in err and str(run) in err
    # A dev-split run compares with the dev-split row.
    dev = run_file(tmp_path, "mine-dev", {"xnli": 70.0}, split="dev")
    out = tmp_path / "cmp.md"
    assert leaderboard_main([str(dev), "--compare", str(dev), DEV_BASELINE, "--out", str(out)]) == 0
    base = find_row(DEV_BASELINE).tasks["xnli"].avgs["accuracy"]
    assert f"| XNLI avg_metric | 70.0 | {base:.1f} | {base - 70.0:+.1f} |" in out.read_text()


def test_compare_blanks_tasks_whose_splits_differ(tmp_path):
    run = run_file(tmp_path, "mine", {"xnli": 70.0, "xquad": 60.0})
    best = "phang2020_v1_t2_bench_best_models_xstilts"
    out = tmp_path / "cmp.md"
    assert leaderboard_main([str(run), "--compare", str(run), best, "--out", str(out)]) == 0
    md = out.read_text()
    row = find_row(best)
    assert f"| XQuAD avg_metric | 60.0 | {row.tasks['xquad'].avg_metric:.1f} | – |" in md
    assert f"| XNLI avg_metric | 70.0 | {row.tasks['xnli'].avg_metric:.1f} | " \
           f"{row.tasks['xnli'].avg_metric - 70.0:+.1f} |" in md
    assert "Not compared (splits differ; blank B − A): xquad: A on test, B on dev" in md
    assert "(Phang et al., 2020; partly dev)" in md


def test_compare_flags_unstated_split_and_refuses_delta_rows(tmp_path, capsys):
    run = run_file(tmp_path, "mine", {"xnli": 70.0})
    out = tmp_path / "cmp.md"
    assert leaderboard_main([str(run), "--compare", str(run), "xue2021_mt5_readme_mbert", "--out", str(out)]) == 0
    md = out.read_text()
    readme = find_row("xue2021_mt5_readme_mbert").tasks["xnli"].avgs["accuracy"]
    assert f"| XNLI avg_metric | 70.0 | {readme:.1f} | {readme - 70.0:+.1f}§ |" in md
    assert "§ split unstated or not a test-set measurement" in md and "second-hand" in md
    delta_row = "phang2020_v1_t2_xlmr_large_anli_plus_no_mlm_dev_delta"
    assert leaderboard_main([str(run), "--compare", str(run), delta_row]) == 2
    assert "printed as differences from" in capsys.readouterr().err


# --- Phang et al.'s deltas as a transfer matrix -----------------------------------------

def test_published_transfer_matrix_renders_with_dev_note(published):
    refs = load_references("x-stilts")
    board = build_board([], refs)
    summary = board.sections[0]
    assert not any("deltas" in r.key for r in summary.rows), "delta rows are never summary rows"
    sec = next(s for s in board.sections if s.key == "published_transfer_matrix.x-stilts")
    assert len(sec.rows) == 17 and sec.rows[0].key == DEV_BASELINE
    cols = [k for k, _ in sec.columns]
    for row in sec.rows[1:]:
        src = published[row.key]
        assert src["figures_are"] == "delta"
        for (key, _), cell in zip(sec.columns[1:-1], row.cells[1:-1]):
            task, _, fig = key.partition(".")
            fig = fig or next(iter(src["delta_figures"][task]))
            assert cell.value == src["delta_figures"][task][fig] and cell.kind == "delta"
        assert row.cells[-1].value == src["average_delta"]
        assert row.cells[0].text.endswith("(with MLM)" if "With MLM" in src["setting"] else "(no MLM)")
    base = published[DEV_BASELINE]
    assert sec.rows[0].cells[cols.index("xquad.f1")].value == base["figures"]["xquad"]["f1"]
    assert "Dev-set figures" in sec.intro and any("dev-set figures" in n and "not test-set" in n for n in sec.notes)
    md = render(board, "md")
    assert "## Published intermediate-task transfer (Phang et al., 2020)" in md
    assert "| ANLI+ (no MLM) |" in md and "| ANLI+ (with MLM) |" in md


def test_published_matrix_beside_the_runs_matrix(tmp_path):
    def run(name, inter, xnli):
        doc = results_doc(scored_from({"xnli": full("xnli", xnli)}), name=name, intermediate=inter,
                          base_model=None if not inter else "xlm-roberta-large",
                          path="xlm-roberta-large" if not inter else f"ckpt/{name}")
        return write_json(tmp_path / name / "results.json", doc)

    paths = [run("base", [], 70.0), run("mnli", ["mnli"], 72.0)]
    out = tmp_path / "board.md"
    assert leaderboard_main([*map(str, paths), "--out", str(out)]) == 0
    md = out.read_text()
    ours, theirs = md.index("## Intermediate-task transfer"), md.index("## Published intermediate-task transfer")
    assert ours < theirs
    assert "gains of avg_metric (QA (EM+F1)/2) on the runs' test split" in md
    # Without a matrix of the runs' own, the default board has none either.
    assert leaderboard_main([str(paths[0]), "--out", str(out)]) == 0
    assert "Published intermediate-task transfer" not in out.read_text()


# --- the file format -------------------------------------------------------------------

def _doc() -> dict:
    return {"schema": "xtreme-harness/reference/v2", "id": "mine", "version": "xtreme",
            "source": {"short": "Me, 2024", "citation": "Me. A paper. 2024", "table": "Table 1"},
            "rows": [{"id": "me_row", "model": "My model", "split": "test", "transfer": "zero-shot",
                      "figures": {"xnli": {"accuracy": 70.0}},
                      "per_language": {"xnli": {"accuracy": {"en": 80.0, "de": 60.0}}}}]}


def test_a_user_file_loads_and_mistakes_name_file_and_line(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump(_doc(), sort_keys=False), encoding="utf-8")
    (e,) = load_references(str(good))
    assert e.name == "My model (Me, 2024)" and e.tasks["xnli"].per_lang["accuracy"]["de"] == 60.0
    bad = copy.deepcopy(_doc())
    bad["rows"][0]["figures"]["xnli"] = {"f1": 70.0}
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    with pytest.raises(UserError, match="'f1' is not a primary figure of xnli") as exc:
        load_reference(p)
    text = p.read_text().splitlines()
    line = next(i for i, ln in enumerate(text, 1) if "f1: 70.0" in ln)
    assert f"{p}:{line}:" in str(exc.value)
    bad = copy.deepcopy(_doc())
    bad["rows"][0]["split"] = "validation"
    with pytest.raises(UserError, match="must start with one of: test, dev, unstated"):
        parse_reference(bad, "x.yaml")
    bad = copy.deepcopy(_doc())
    bad["rows"][0]["figures_are"] = "delta"
    bad["rows"][0]["delta_vs"] = "nowhere"
    with pytest.raises(UserError, match="delta row gives delta_figures"):
        parse_reference(bad, "x.yaml")
    bad = copy.deepcopy(_doc())
    bad["rows"][0]["typo"] = 1
    with pytest.raises(UserError, match="unknown key 'rows\\[0\\].typo'"):
        parse_reference(bad, "x.yaml")


def test_a_v1_file_is_still_read(tmp_path):
    v1 = {"schema": "xtreme-harness/reference/v1", "id": "old", "version": "xtreme",
          "source": {"short": "Old", "citation": "Old paper", "table": "Table 9", "split": "test"},
          "rows": [{"name": "Old model", "protocol": "fine-tuned transfer",
                    "tasks": {"xnli": {"accuracy": 70.0}, "xquad": {"f1": 60.0, "exact_match": None}}}]}
    (e,) = parse_reference(v1, "old.yaml")
    assert e.name == "Old model (Old)" and e.ref.split == "test" and e.tasks["xquad"].avgs["exact_match"] is None
    assert e.score is None


@pytest.mark.parametrize("fmt", ["md", "csv", "latex", "html"])
def test_reference_sections_render_in_every_format(fmt, tmp_path):
    from test_leaderboard import check_html

    run = run_file(tmp_path, "mine", {"xnli": 70.0})
    ext = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}[fmt]
    out = tmp_path / f"board.{ext}"
    assert leaderboard_main([str(run), "--reference", "all,x-stilts", "--per-language", "--no-plots",
                             "--compare", str(run), "xue2021_mt5_readme_mbert", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Published intermediate-task transfer" in text or "published_transfer_matrix" in text
    if fmt == "html":
        check_html(text)
    elif fmt == "latex":
        assert text.count("\\begin{tabular}") == text.count("\\end{tabular}") >= 4 and "\\S{}" in text
    elif fmt == "csv":
        assert "\ndelta,xnli.avg_metric," in text and "published_transfer_matrix.x-stilts" in text


def test_readme_board_excerpt_is_what_the_command_prints(tmp_path, capsys):
    """The README's "Comparing public checkpoints" shows the published rows as the command prints them."""
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Comparing public checkpoints", 1)[1].split("\n## ", 1)[0]
    assert "xtreme-leaderboard --reference 'mBERT,XLM-R Large'" in section
    excerpt = [line for line in section.split("```")[-2].splitlines() if line.startswith("|")]
    assert leaderboard_main(["--reference", "mBERT,XLM-R Large"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(excerpt) == 6 and all(line in printed for line in excerpt)
