"""Fault cases of ``xtreme-leaderboard``: results files and records holding figures that cannot be, and output
paths that cannot be written.

Each case builds a small, otherwise valid xtreme-eval output folder (``r/``: ``results.json`` and per-example
records for XNLI German) as text, spoils one thing, and expects exit 2 with one line naming the file, the line and
what was expected. Behaviour that is not an error (partial runs, atomic writes, modes) is in
``test_leaderboard_validation.py``.
"""

from __future__ import annotations

import copy
import json

from faultkit import Case, line_of

SCHEMA = "xtreme-harness/results/v1"
DOC = {"schema": SCHEMA, "harness_version": "0.2.0", "created": "2024-01-01T00:00:00+00:00",
       "model": {"name": "m", "path": "ckpt", "protocol": "fine-tuned transfer", "intermediate": []},
       "config": {"limit": None}, "version": "xtreme", "overall": {},
       "tasks": {"xnli": {"accuracy": {"de": 50.0}, "avg_accuracy": 50.0, "avg_metric": 50.0,
                          "secondary": {"macro_f1": {"de": 33.3}, "avg_macro_f1": 33.3},
                          "split": "test", "n": {"de": 2}, "stats": {"de": {"examples": 2}}}},
       "coverage": {"xnli": {"complete": False, "languages": ["de"], "missing": ["en"]}},
       "partial": True, "records": "records"}
REC = [{"id": "de-0", "pred": "entailment", "gold": "entailment", "correct": 1},
       {"id": "de-1", "pred": "neutral", "gold": "contradiction", "correct": 0}]
QA_DOC = {**DOC, "tasks": {"xquad": {"exact_match": {"de": 50.0}, "f1": {"de": 75.0}, "avg_exact_match": 50.0,
                                     "avg_f1": 75.0, "avg_metric": 62.5, "split": "test", "n": {"de": 2}}},
          "coverage": {}}
QA_REC = [{"id": "q1", "pred": "Paris", "gold": ["Paris"], "em": 1, "f1": 1.0},
          {"id": "q2", "pred": "in Paris", "gold": ["Frankreich Paris"], "em": 0, "f1": 0.5}]
PANX_DOC = {**DOC, "tasks": {"panx": {"f1": {"de": 50.0}, "precision": {"de": 50.0}, "recall": {"de": 50.0},
                                      "avg_f1": 50.0, "avg_precision": 50.0, "avg_recall": 50.0, "avg_metric": 50.0,
                                      "split": "test", "n": {"de": 2}}}, "coverage": {}}
PANX_REC = [{"id": "de-0", "pred": ["B-PER"], "gold": ["B-PER"], "tp": 1, "n_pred": 1, "n_gold": 1},
            {"id": "de-1", "pred": ["B-LOC"], "gold": ["B-ORG"], "tp": 0, "n_pred": 1, "n_gold": 1}]


def doc_text(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False)  # one key a line: the line of a key is exact


def jsonl(records: list) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def run_files(root: str, doc: dict | str = DOC, records: list | str = REC, task: str = "xnli") -> dict:
    text = doc if isinstance(doc, str) else doc_text(doc)
    recs = records if isinstance(records, str) else jsonl(records)
    return {f"{root}/results.json": text, f"{root}/records/{task}/de.jsonl": recs}


def changed(doc: dict, *keys_and_value) -> dict:
    """A deep copy of ``doc`` with the value at a key path replaced."""
    *keys, value = keys_and_value
    out = copy.deepcopy(doc)
    node = out
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return out


def board(name: str, doc: dict, needle: str, says: str, nth: int = 1) -> Case:
    """``xtreme-leaderboard r`` on a spoiled results.json; the fault sits on the line of ``needle``."""
    text = doc_text(doc)
    return Case(name, "leaderboard", run_files("r", text), ["{tmp}/r", "--reference", "none"], "r/results.json",
                line_of(text, needle, nth), says)


def compare(name: str, records: list | str, line: int | None, says: str, doc: dict = DOC,
            task: str = "xnli", clean: list | None = None) -> Case:
    """``--compare a b`` where b's records are spoiled (a's are clean)."""
    files = {**run_files("a", doc, clean or REC, task), **run_files("b", doc, records, task)}
    return Case(name, "leaderboard", files, ["--compare", "{tmp}/a", "{tmp}/b", "--reference", "none",
                                             "--bootstrap", "50"], f"b/records/{task}/de.jsonl", line, says)


def out_case(name: str, args: list, at: str, says: str, extra: dict | None = None) -> Case:
    """A clean run with an output option that cannot be written: refused before any work."""
    return Case(name, "leaderboard", {**run_files("r"), **(extra or {})}, ["{tmp}/r", "--reference", "none", *args],
                at, None, says)


def reference(name: str, fmt: str, row: dict, needle: str, says: str) -> Case:
    """``--reference FILE`` with one row spoiled; YAML values are written as given (``.nan`` stays YAML's NaN)."""
    base = {"id": "r1", "model": "Model X", "split": "test", "figures": {"xnli": {"accuracy": 70.0}}, **row}
    if fmt == "json":
        text = json.dumps({"schema": "xtreme-harness/reference/v2", "source": {"citation": "A paper.", "table": "T1"},
                           "rows": [base]}, indent=1)
    else:
        def yaml_value(v):
            return json.dumps(v) if not isinstance(v, str) else v
        text = ("schema: xtreme-harness/reference/v2\nsource:\n  citation: A paper.\n  table: T1\nrows:\n"
                + "".join(f"  {'- ' if i == 0 else '  '}{k}: {yaml_value(v)}\n"
                          for i, (k, v) in enumerate(base.items())))
    files = {**run_files("r"), f"ref.{fmt}": text}
    return Case(name, "leaderboard", files, ["{tmp}/r", "--reference", f"{{tmp}}/ref.{fmt}"], f"ref.{fmt}",
                line_of(text, needle), says)


NAN = float("nan")
PCT = "expected a percentage, a number from 0 to 100"
COUNT = "expected a count, an integer of 0 or more"

CASES = [
    # --- figures that cannot be, on reading results.json -------------------------------------------
    board("lb-figure-nan", changed(DOC, "tasks", "xnli", "accuracy", "de", NAN), "NaN",
          f"tasks.xnli.accuracy.de is NaN; {PCT}"),
    board("lb-figure-infinity", changed(DOC, "tasks", "xnli", "avg_metric", float("inf")), "Infinity",
          f"tasks.xnli.avg_metric is Infinity; {PCT}"),
    board("lb-figure-over-100", changed(changed(DOC, "tasks", "xnli", "accuracy", "de", 105.0),
                                        "tasks", "xnli", "avg_accuracy", 105.0), '"de": 105',
          f"tasks.xnli.accuracy.de is 105.0; {PCT}"),
    board("lb-figure-negative", changed(DOC, "tasks", "xnli", "avg_accuracy", -3.0), '"avg_accuracy"',
          f"tasks.xnli.avg_accuracy is -3.0; {PCT}"),
    board("lb-figure-bool", changed(DOC, "tasks", "xnli", "accuracy", "de", True), '"de": true',
          f"tasks.xnli.accuracy.de is true; {PCT}"),
    board("lb-figure-string", changed(DOC, "tasks", "xnli", "accuracy", "de", "50"), '"de": "50"',
          f'tasks.xnli.accuracy.de is "50"; {PCT}'),
    board("lb-figure-not-per-language", changed(DOC, "tasks", "xnli", "accuracy", [50.0]), '"accuracy"',
          "tasks.xnli.accuracy is [50.0]; expected an object mapping languages to percentages"),
    board("lb-secondary-over-100", changed(DOC, "tasks", "xnli", "secondary", "macro_f1", "de", 250.0), '"de": 250',
          f"tasks.xnli.secondary.macro_f1.de is 250.0; {PCT}"),
    board("lb-overall-nan", changed(DOC, "overall", {"tagging": NAN}), '"tagging"',
          f"overall.tagging is NaN; {PCT}"),
    board("lb-overall-secondary-over-100", changed(DOC, "overall_secondary", {"all_task": 101}), '"all_task"',
          f"overall_secondary.all_task is 101; {PCT}"),
    board("lb-count-negative", changed(DOC, "tasks", "xnli", "n", {"de": -2}), '"de": -2',
          f"tasks.xnli.n.de is -2; {COUNT}"),
    board("lb-count-fraction", changed(DOC, "tasks", "xnli", "n", {"de": 2.5}), '"de": 2.5',
          f"tasks.xnli.n.de is 2.5; {COUNT}"),
    board("lb-count-bool", changed(DOC, "tasks", "xnli", "n", {"de": True}), '"de": true',
          f"tasks.xnli.n.de is true; {COUNT}"),
    board("lb-limit-not-a-count", changed(DOC, "config", {"limit": "all"}), '"limit"',
          f'config.limit is "all"; {COUNT}'),
    board("lb-partial-not-a-flag", changed(DOC, "partial", "yes"), '"partial"',
          'partial is "yes"; expected true or false'),
    board("lb-coverage-complete-not-a-flag", changed(DOC, "coverage", "xnli", "complete", 1), '"complete"',
          "coverage.xnli.complete is 1; expected true or false"),
    board("lb-model-name-not-a-string", changed(DOC, "model", "name", ["m"]), '"name"',
          'model.name is ["m"]; expected a string'),
    board("lb-split-not-a-string", changed(DOC, "tasks", "xnli", "split", 1), '"split"',
          "tasks.xnli.split is 1; expected a string"),
    board("lb-records-nul", changed(DOC, "records", "rec\u0000ords"), '"records"',
          "expected the records folder, relative to the file"),
    board("lb-task-not-an-object", changed(DOC, "tasks", "xnli", 50.0), '"xnli": 50',
          "tasks.xnli is 50.0; expected an object of figures"),
    board("lb-stats-not-an-object", changed(DOC, "tasks", "xnli", "stats", {"de": 2}), '"de": 2',
          "tasks.xnli.stats.de is 2; expected an object", nth=2),
    Case("lb-results-nested-too-deeply", "leaderboard", run_files("r", "[" * 100_000 + "]" * 100_000),
         ["{tmp}/r", "--reference", "none"], "r/results.json", None, "nested too deeply"),
    Case("lb-export-results-nan", "leaderboard",
         {**run_files("r", changed(DOC, "tasks", "xnli", "accuracy", "de", NAN)), "r/predictions/xnli/test-de.tsv":
          "entailment\nneutral\n"}, ["export", "{tmp}/r", "--out", "{tmp}/out/sub", "--allow-partial"],
         "r/results.json", line_of(doc_text(changed(DOC, "tasks", "xnli", "accuracy", "de", NAN)), "NaN"),
         f"tasks.xnli.accuracy.de is NaN; {PCT}"),
    # --- per-example records the paired bootstrap would resample -----------------------------------
    compare("lb-record-correct-7", [REC[0], dict(REC[1], correct=7)], 2,
            "record 'de-1': correct is 7; expected 0 or 1"),
    compare("lb-record-correct-bool", [dict(REC[0], correct=True), REC[1]], 1,
            "record 'de-0': correct is true; expected 0 or 1"),
    compare("lb-record-correct-nan", [REC[0], dict(REC[1], correct=NAN)], 2,
            "record 'de-1': correct is NaN; expected 0 or 1"),
    compare("lb-record-qa-f1-over-1", [QA_REC[0], dict(QA_REC[1], f1=50.0)], 2,
            "record 'q2': f1 is 50.0; expected a fraction from 0 to 1", doc=QA_DOC, task="xquad", clean=QA_REC),
    compare("lb-record-qa-em-fraction", [dict(QA_REC[0], em=0.5), QA_REC[1]], 1,
            "record 'q1': em is 0.5; expected 0 or 1", doc=QA_DOC, task="xquad", clean=QA_REC),
    compare("lb-record-chunks-negative", [PANX_REC[0], dict(PANX_REC[1], n_gold=-1)], 2,
            f"record 'de-1': n_gold is -1; {COUNT}", doc=PANX_DOC, task="panx",
            clean=PANX_REC),
    compare("lb-record-chunks-tp-over-predicted", [dict(PANX_REC[0], tp=3), PANX_REC[1]], 1,
            "tp is 3 but n_pred is 1", doc=PANX_DOC, task="panx", clean=PANX_REC),
    compare("lb-record-duplicate-id", [REC[0], dict(REC[1], id="de-0")], 2, "record id 'de-0' repeats line 1"),
    compare("lb-record-without-id", [REC[0], {k: v for k, v in REC[1].items() if k != "id"}], 2,
            "a record must be a JSON object with an 'id'"),
    compare("lb-record-malformed", jsonl(REC) + '{"id": "de-2", "correct": 1\n', 3, "malformed JSON record"),
    compare("lb-record-lacks-field", [REC[0], {"id": "de-1", "pred": "neutral", "gold": "neutral"}], 2,
            "record 'de-1' lacks the number 'correct'"),
    compare("lb-record-nested-too-deeply", jsonl(REC) + "[" * 100_000 + "]" * 100_000 + "\n", 3,
            "nested too deeply"),
    compare("lb-records-truncated", [REC[0]], None, "the records hold 1 examples but"),
    compare("lb-records-of-another-run", [dict(REC[0]), dict(REC[1], gold="neutral", correct=1)], None,
            "these records give 100.0000 but"),
    Case("lb-records-folder-is-a-file", "leaderboard",
         {**run_files("a"), **{k: v for k, v in run_files("b").items() if "records" not in k},
          "b/records/xnli": "not a folder\n"},
         ["--compare", "{tmp}/a", "{tmp}/b", "--reference", "none"], "b/records/xnli", None,
         "expected a folder of per-example records"),
    # --- reference rows given as files -------------------------------------------------------------
    reference("lb-reference-json-figure-nan", "json", {"figures": {"xnli": {"accuracy": NAN}}}, "NaN",
              "rows[0].figures.xnli.accuracy must be a number from 0 to 100"),
    reference("lb-reference-printed-average-nan", "yaml", {"average": ".nan"}, "average:",
              "rows[0].average is nan; expected the printed figure"),
    reference("lb-reference-avg-column-text", "yaml", {"per_language_table_avg_column": {"xnli": {"accuracy": "n/a"}}},
              "per_language_table_avg_column",
              "rows[0].per_language_table_avg_column.xnli.accuracy must be a percentage"),
    # --- output options, checked before any work ---------------------------------------------------
    out_case("lb-out-is-a-folder", ["--out", "{tmp}/out"], "out", "--out must be a file path; found a folder",
             {"out/keep.txt": "x\n"}),
    out_case("lb-out-under-a-file", ["--out", "{tmp}/r/results.json/board.md"], "r/results.json/board.md",
             "a component of the path is a file, not a folder"),
    out_case("lb-out-is-an-input", ["--out", "{tmp}/r/results.json"], "r/results.json",
             "--out names a file the board reads"),
    Case("lb-out-is-a-reference-file", "leaderboard", {**run_files("r"), "ref.yaml": "schema: x\n"},
         ["{tmp}/r", "--reference", "{tmp}/ref.yaml", "--out", "{tmp}/ref.yaml"], "ref.yaml", None,
         "--out names a file the board reads"),
    out_case("lb-plots-is-a-file", ["--plots", "{tmp}/r/results.json"], "r/results.json",
             "--plots must be a folder; found a file"),
    out_case("lb-plots-under-a-file", ["--plots", "{tmp}/r/results.json/plots"], "r/results.json/plots",
             "a component of the path is a file, not a folder"),
    out_case("lb-plots-inside-out", ["--out", "{tmp}/out/board.md", "--plots", "{tmp}/out/board.md/plots"],
             "out/board.md", "would lie in or at the board file --out names"),
    out_case("lb-out-name-too-long", ["--out", "{tmp}/out/" + "b" * 253 + ".md"], "out/" + "b" * 253 + ".md",
             "longer than the file system allows"),
    Case("lb-export-out-is-a-file", "leaderboard", {**run_files("r"), "r/predictions/xnli/test-de.tsv": "neutral\n"},
         ["export", "{tmp}/r", "--out", "{tmp}/r/results.json"], "r/results.json", None,
         "must be a folder; found a file"),
    Case("lb-export-out-inside-predictions", "leaderboard",
         {**run_files("r"), "r/predictions/xnli/test-de.tsv": "neutral\nneutral\n"},
         ["export", "{tmp}/r", "--out", "{tmp}/r/predictions/sub", "--allow-partial"], "r/predictions/sub", None,
         "lies inside the predictions it exports"),
]
