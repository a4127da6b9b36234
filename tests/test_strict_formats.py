"""One strict reader per file format: xtreme-score and xtreme-eval give the same verdict on the same file.

Also: numbers are ASCII digits only, repeated JSON keys are refused with their line, errors on huge input
stay one short line, files that are not regular files are refused by name, and scoring stays linear in the
number of a spec's languages.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import pytest

from faultkit import BUCC_DE, BUCC_EN, GOLD_QA, Q1, Q2, SRC, TGT, UD_TEST, XCOPA, XNLI_TEST, squad
from xtreme_harness.formats import squad as squad_format
from xtreme_harness.io import jsonfile, messages
from xtreme_harness.tasks.data import read_split
from xtreme_harness.io.errors import UserError
from xtreme_harness.families import family_of
from xtreme_harness.tasks.scoring import aggregate_task, score_folders
from xtreme_harness.spec import BenchmarkEntry
from xtreme_harness.tasks.registry import registry

SPECS = registry()
FW1, FW0, SUP2, AR1 = "\uff11", "\uff10", "\u00b2", "\u0661"  # full-width 1 and 0, superscript 2, Arabic-Indic 1


def run_score(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "score", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


# --- the primitives ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ok", [("0", True), ("17", True), ("01", False), ("-1", False), ("+1", False),
                                      ("1.0", False), (" 1", False), ("", False), (FW1, False), (SUP2, False),
                                      (AR1, False), ("1" + FW0, False), ("\u09e7", False), ("9" * 18, True),
                                      ("9" * 19, False)])
def test_an_index_is_ascii_digits_without_leading_zeros(text, ok):
    assert jsonfile.is_index(text) is ok


@pytest.mark.parametrize("value, out", [(3, 3), ("3", 3), (" 12 ", 12), ("-4", -4), (True, None), (3.0, None),
                                        (FW1, None), (SUP2, None), (AR1 + "2", None), ("", None), (None, None)])
def test_parse_int_takes_json_integers_and_ascii_digit_strings_only(value, out):
    assert jsonfile.parse_int(value) == out


@pytest.mark.parametrize("text, foreign", [("de-000413461", False), ("Q156913", False), ("de-" + FW1, True),
                                           ("x" + SUP2, True), ("en_1_" + AR1, True), ("\u2460", True),
                                           ("caf\u00e9", False)])
def test_foreign_digits_are_found(text, foreign):
    assert jsonfile.has_foreign_digit(text) is foreign


def test_a_repeated_key_is_refused_with_its_line_and_name(tmp_path):
    text = '{\n "a": 1,\n "b": {"x": 1},\n "a": 2\n}'
    with pytest.raises(UserError) as err:
        jsonfile.load_json_text(text, tmp_path / "f.json", key="question id")
    assert err.value.line == 4 and "duplicate question id 'a'" in err.value.message
    nested = '{"a": [\n {"k": 1,\n  "k": 2}]}'
    with pytest.raises(UserError) as err:
        jsonfile.load_json_text(nested, tmp_path / "f.json")
    assert err.value.line == 3 and "duplicate key 'k'" in err.value.message
    assert jsonfile.load_json_text('{"a": {"k": 1}, "b": {"k": 2}}', tmp_path / "f.json") == \
        {"a": {"k": 1}, "b": {"k": 2}}


def test_json_path_line_places_values_and_falls_back_to_the_deepest_part():
    text = json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "answers": 5}]}]}]}, indent=1)
    lines = text.split("\n")
    at = jsonfile.json_path_line(text, ("data", 0, "paragraphs", 0, "qas", 0, "answers"))
    assert '"answers": 5' in lines[at - 1]
    at = jsonfile.json_path_line(text, ("data", 0, "paragraphs", 0, "nope", 3))
    assert lines[at - 1].strip() == "{"  # the paragraph itself
    assert jsonfile.json_path_line("[1, 2]", ("x",)) == 1


def test_messages_never_quote_unbounded_input():
    assert len(messages.show("x" * 10**6)) < 100
    assert messages.show([[1]]) == "a list" and messages.show(None) == "null" and messages.show(True) == "true"
    assert messages.listing([str(i) for i in range(1000)]).endswith("(988 more)")


# --- xtreme-score and xtreme-eval read a gold file with the same function -----------------------------------

def _layout(task: str, gold: str) -> tuple[dict[str, str], str, str]:
    """(data files, where xtreme-eval reads ``gold``, a valid prediction file for it) of one task."""
    return {
        "tatoeba": ({"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT}, "tatoeba/labels/test-de.tsv", "1\n0\n"),
        "xnli": ({"xnli/test-de.tsv": XNLI_TEST}, "xnli/labels/test-de.tsv", "neutral\n" * 3),
        "udpos": ({"udpos/test-de.tsv": UD_TEST}, "udpos/labels/test-de.tsv", "DET\nNOUN\nVERB\n\nPRON\nVERB\n\n"),
        "xquad": ({}, "xquad/xquad.de.json", '{"q1": "Paris"}'),
        "bucc2018": ({"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN},
                     "bucc2018/de-en.test.gold", "de-1\ten-2\n"),
        "xcopa": ({"xcopa/test-et.jsonl": XCOPA_TEST}, "xcopa/labels/test-et.jsonl", '{"label": 0}\n{"label": 1}\n'),
        "mewslix": (MEWSLIX_FILES, "mewslix/wikinews_labels/test-en.json", '{"m1": ["Q1"]}'),
    }[task]


XCOPA_TEST = "".join(json.dumps({k: v for k, v in json.loads(x).items() if k != "label"}) + "\n"
                     for x in XCOPA.splitlines())
MEWSLIX_FILES = {
    "mewslix/candidate_set_entities.jsonl": json.dumps({"entity_id": "Q1", "description": "Paris is a city.",
                                                        "sentence_spans": [{"start": 0, "end": 16}]}) + "\n",
    "mewslix/wikinews_mentions/test-en.jsonl": json.dumps({
        "context": {"text": "Paris liegt in Frankreich.", "sentence_spans": [{"start": 0, "end": 26}]},
        "mentions": [{"example_id": "m1", "mention_span": {"start": 0, "end": 5, "text": "Paris"}}]}) + "\n"}
LANG = {"xcopa": "et", "mewslix": "en"}

PARITY = [
    ("tatoeba", "1\n0\n"), ("tatoeba", f"1\n{FW0}\n"), ("tatoeba", f"{SUP2}\n0\n"), ("tatoeba", f"{AR1}\n0\n"),
    ("tatoeba", "1\n00\n"), ("tatoeba", "1\n 0 \n"), ("tatoeba", "1\n-0\n"),
    ("xnli", "neutral\nentailment\ncontradiction\n"), ("xnli", f"neutral\n{FW1}\nneutral\n"),
    ("udpos", "DET\nNOUN\nVERB\n\nPRON\nVERB\n\n"), ("udpos", "DET\nNOUN\nVERB\n\n\nPRON\nVERB\n"), ("udpos", "\n\n\n"),
    ("udpos", "DET\tx\n"), ("udpos", "DET\nNOUN\nBOGUS\n\nPRON\nVERB\n\n"),
    ("xquad", GOLD_QA), ("xquad", squad(Q1, dict(Q2, id="q1"))),
    ("xquad", GOLD_QA.replace('"id": "q2"', '"id": "q2",\n       "id": "q3"')),
    ("xquad", squad(dict(Q1, answers=5))), ("xquad", squad(dict(Q1, answers="Frankreich"))),
    ("xquad", squad(dict(Q1, answers=[5]))), ("xquad", squad(dict(Q1, id=5))),
    ("xquad", squad(Q1, dict(Q2, answers=[]))),
    ("xquad", squad(dict(Q1, answers=[{"text": "Frankreich", "answer_start": 3}]))),
    ("xquad", '{"data": "x"}'), ("xquad", "[" * 50_000 + "]" * 50_000),
    ("bucc2018", "de-1\ten-2\n"), ("bucc2018", f"de-{FW1}\ten-2\n"), ("bucc2018", "de-1\ten-2\tx\n"),
    ("bucc2018", "de-1 \ten-2\n"),
    ("xcopa", '{"label": 0}\n{"label": 1}\n'), ("xcopa", '{"label": 0}\n{"label": "1"}\n'),
    ("xcopa", '{"label": 0}\n{"label": 2}\n'), ("xcopa", '{"label": 0}\n{"label": 1, "label": 0}\n'),
    ("xcopa", '{"label": 0}\n{"label": true}\n'),
    ("mewslix", '{"m1": ["Q1"]}'), ("mewslix", '{"m1": ["Q1"], "m1": ["Q2"]}'), ("mewslix", f'{{"m1": ["Q{FW1}"]}}'),
    ("mewslix", '{"m1": "Q1"}'),
]


def _verdict(fn):
    try:
        return "ok", fn()
    except UserError as exc:
        return "error", (os.path.basename(exc.path or ""), exc.line)


@pytest.mark.parametrize("task, gold", PARITY, ids=[f"{t}-{i}" for i, (t, _) in enumerate(PARITY)])
def test_score_and_eval_read_a_gold_file_alike(task, gold, tmp_path):
    spec, lang = SPECS[task], LANG.get(task, "de")
    files, at, pred = _layout(task, gold)
    data = tmp_path / "data"
    for rel, text in {**files, at: gold}.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(text, encoding="utf-8")
    (tmp_path / "pred.txt").write_text(pred, encoding="utf-8")
    fam = family_of(spec)

    def eval_side():
        gold_ = fam.gold(spec, read_split(spec, data, lang, "test"))
        return {q: r[:1] for q, r in gold_.items()} if isinstance(gold_, dict) else gold_

    def score_side():
        labels = fam.read_pair(spec, str(tmp_path / "pred.txt"), str(data / at))[0]
        return {q: r[:1] for q, r in labels.items()} if isinstance(labels, dict) else labels

    e, s = _verdict(eval_side), _verdict(score_side)
    assert e[0] == s[0], (e, s)
    if e[0] == "ok":
        assert e[1] == s[1]
    else:
        assert e[1][0] == s[1][0] == os.path.basename(at) and e[1][1] == s[1][1], (e, s)


# --- the same through both command lines ---------------------------------------------------------------

@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    from tiny import build_suite

    return build_suite(tmp_path_factory.mktemp("strict") / "suite", tasks={"encoder", "xquad"})


def _eval(suite, tmp_path, task, files, name):
    from xtreme_harness.run import evaluate

    data = tmp_path / f"data-{name}"
    for rel, text in files.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(text, encoding="utf-8")
    out = tmp_path / f"out-{name}"
    try:
        return evaluate(str(suite), tasks=task, languages="de", data_dir=str(data), output=str(out),
                        progress=False), out
    except UserError as exc:
        return exc, out


@pytest.mark.parametrize("labels", ["1\n0\n", f"1\n{FW0}\n", f"{AR1}\n0\n", "1\n00\n"])
def test_tatoeba_labels_same_verdict_and_figure_in_both_commands(suite, tmp_path, labels):
    files = {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": labels}
    res, out = _eval(suite, tmp_path, "tatoeba", files, "t")
    gold = tmp_path / "gold/tatoeba/test-de.tsv"
    gold.parent.mkdir(parents=True)
    gold.write_text(labels, encoding="utf-8")
    pred = tmp_path / "pred/tatoeba/test-de.tsv"
    pred.parent.mkdir(parents=True)
    pred.write_text("1\n0\n" if isinstance(res, UserError) else (out / "predictions/tatoeba/test-de.tsv").read_text())
    proc = run_score("--predictions", tmp_path / "pred", "--labels", tmp_path / "gold", "--tasks", "tatoeba",
                     "--json", tmp_path / "s.json")
    if isinstance(res, UserError):
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        line = proc.stderr.strip()
        assert f"{gold}:{res.line}: " in line and res.message in line
    else:
        assert proc.returncode == 0, proc.stderr
        scored = json.loads((tmp_path / "s.json").read_text())
        assert scored["tasks"]["tatoeba"]["accuracy"]["de"] == res["tasks"]["tatoeba"]["accuracy"]["de"]


@pytest.mark.parametrize("doc", [GOLD_QA, squad(Q1, dict(Q2, id="q1")),
                                 GOLD_QA.replace('"question": "Wo liegt Paris?",',
                                                 '"question": "Wo liegt Paris?",\n       "answers": [],', 1)],
                         ids=["clean", "duplicate-question-id", "duplicate-json-key"])
def test_squad_file_same_verdict_and_figure_in_both_commands(suite, tmp_path, doc):
    res, out = _eval(suite, tmp_path, "xquad", {"xquad/xquad.de.json": doc}, "q")
    gold = tmp_path / "gold/xquad/test-de.json"
    gold.parent.mkdir(parents=True)
    gold.write_text(doc, encoding="utf-8")
    pred = tmp_path / "pred/xquad/test-de.json"
    pred.parent.mkdir(parents=True)
    pred.write_text('{"q1": "Paris"}' if isinstance(res, UserError) else
                    (out / "predictions/xquad/test-de.json").read_text())
    proc = run_score("--predictions", tmp_path / "pred", "--labels", tmp_path / "gold", "--tasks", "xquad",
                     "--json", tmp_path / "s.json")
    if isinstance(res, UserError):
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert f"{gold}:{res.line}: " in proc.stderr and "duplicate" in res.message
    else:
        assert proc.returncode == 0, proc.stderr
        scored = json.loads((tmp_path / "s.json").read_text())["tasks"]["xquad"]
        assert scored["f1"]["de"] == res["tasks"]["xquad"]["f1"]["de"]


def test_duplicate_prediction_id_is_an_error_not_the_last_answer(tmp_path):
    gold = tmp_path / "gold/xquad/test-de.json"
    gold.parent.mkdir(parents=True)
    gold.write_text(GOLD_QA, encoding="utf-8")
    pred = tmp_path / "pred/xquad/test-de.json"
    pred.parent.mkdir(parents=True)
    pred.write_text('{\n "q1": "Paris",\n "q2": "Paris",\n "q1": "Frankreich"\n}', encoding="utf-8")
    proc = run_score("--predictions", tmp_path / "pred", "--labels", tmp_path / "gold")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"xtreme-score: error: {pred}:4: duplicate question id 'q1' in one JSON object (lines 2 and 4); "
                                   "expected each question id once (the last one would silently win)")


# --- blow-ups: bounded messages, no splitting of one huge line ---------------------------------------------

@pytest.mark.parametrize("task, ext, pred", [("xnli", "tsv", "y" * 5_000_000 + "\n"),
                                             ("panx", "tsv", "O" + "\t" * 5_000_000 + "O\n\n"),
                                             ("tatoeba", "tsv", "7" * 5_000_000 + "x\n0\n"),
                                             ("bucc2018", "tsv", "a" * 5_000_000 + " \tb\n"),
                                             ("xquad", "json", '{"' + "q" * 5_000_000 + '": 1}')])
def test_a_huge_line_gives_one_short_line(tmp_path, task, ext, pred):
    gold_text = {"xnli": "neutral\n", "panx": "O\n\n", "tatoeba": "1\n0\n", "bucc2018": "de-1\ten-2\n",
                 "xquad": GOLD_QA}[task]
    for side, text in (("pred", pred), ("gold", gold_text)):
        p = tmp_path / side / task / f"test-de.{ext}"
        p.parent.mkdir(parents=True)
        p.write_text(text, encoding="utf-8")
    start = time.monotonic()
    proc = run_score("--predictions", tmp_path / "pred", "--labels", tmp_path / "gold", "--tasks", task)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[:500]
    assert len(proc.stderr) < 1500 and "characters]" in proc.stderr
    assert time.monotonic() - start < 60


def test_structural_errors_in_a_large_file_still_come_back_fast(tmp_path):
    text = squad(*[dict(Q1, id=f"q{i}") for i in range(20_000)], dict(Q2, id="last", answers=5))
    path = tmp_path / "big.json"
    path.write_text(text, encoding="utf-8")
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        squad_format.read_qa_gold(str(path))
    assert "'last'" in err.value.message and err.value.line == text.count("\n", 0, text.index('"answers": 5')) + 1
    assert time.monotonic() - start < 30


# --- only regular files are read --------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_prediction_file_is_refused_by_name_not_read(tmp_path):
    (tmp_path / "gold/xnli").mkdir(parents=True)
    (tmp_path / "gold/xnli/test-de.tsv").write_text("neutral\n")
    (tmp_path / "pred/xnli").mkdir(parents=True)
    os.mkfifo(tmp_path / "pred/xnli/test-de.tsv")
    proc = run_score("--predictions", tmp_path / "pred", "--labels", tmp_path / "gold")
    assert proc.returncode == 2
    assert f"{tmp_path}/pred/xnli/test-de.tsv: expected a prediction file (a regular file), found a FIFO" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_gold_file_is_refused_not_taken_for_no_gold(tmp_path):
    (tmp_path / "xnli/labels").mkdir(parents=True)
    (tmp_path / "xnli/test-de.tsv").write_text(XNLI_TEST)
    os.mkfifo(tmp_path / "xnli/labels/test-de.tsv")
    with pytest.raises(UserError, match="found a FIFO"):
        read_split(SPECS["xnli"], tmp_path, "de", "test")


# --- scoring is linear in the number of a spec's languages -----------------------------------------------

def test_scoring_does_not_loop_over_all_languages_per_language(tmp_path, monkeypatch):
    langs = tuple(f"l{i}" for i in range(50_000))
    big = dataclasses.replace(SPECS["xnli"], task="big", benchmarks={"xtreme": BenchmarkEntry("classification", langs)})
    monkeypatch.setattr("xtreme_harness.tasks.scoring.registry", lambda *a, **k: {**SPECS, "big": big})
    for side in ("pred", "gold"):
        (tmp_path / side / "big").mkdir(parents=True)
        (tmp_path / side / "big" / "test-l7.tsv").write_text("neutral\n")
    start = time.monotonic()
    result = score_folders(tmp_path / "pred", tmp_path / "gold", tasks=["big"], warn=lambda m: None)
    assert result["tasks"]["big"]["accuracy"] == {"l7": 100.0}
    per_lang = {lang: {"accuracy": 50.0} for lang in langs}
    assert aggregate_task(big, per_lang, order=langs, average_over=langs)["avg_accuracy"] == 50.0
    assert time.monotonic() - start < 10


# --- the other readers that took any digit ---------------------------------------------------------------

def test_source_paths_and_choice_labels_take_ascii_digits_only():
    from xtreme_harness.formats.records import answer_list, choice_index, get_path
    from xtreme_harness.spec import Source

    src = Source("s", None, None, {}, {}, ())
    assert choice_index("1", None, 2, src) == 1
    assert choice_index(FW1, None, 2, src) is None and choice_index(SUP2, None, 3, src) is None
    assert get_path({"a": [10, 20]}, "a.1") == 20
    with pytest.raises(KeyError):
        get_path({"a": [10, 20]}, "a." + FW1)
    assert [a.start for a in answer_list([{"text": "x", "answer_start": "\uff11\uff15"}], None, None)] == [-1]
    assert [a.start for a in answer_list(None, ["x"], [15.7])] == [-1]


def test_hub_label_ids_are_checked():
    from xtreme_harness.formats.hub import label_name

    names = ["entailment", "neutral", "contradiction"]
    assert label_name(1, names, names, "hf") == "neutral"
    for bad in (-1, 3, True):
        with pytest.raises(UserError):
            label_name(bad, names, names, "hf")
    assert label_name(0, None, ["0", "1"], "hf") == "0"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_xtreme_eval_refuses_a_fifo_data_file_without_blocking(suite, tmp_path):
    (tmp_path / "data/tatoeba").mkdir(parents=True)
    (tmp_path / "data/tatoeba/de-en.en").write_text(TGT)
    os.mkfifo(tmp_path / "data/tatoeba/de-en.de")
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", "--model", str(suite / "encoder"),
                           "--tasks", "tatoeba", "--languages", "de", "--data-dir", str(tmp_path / "data"), "--output",
                           str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().endswith(f"{tmp_path}/data/tatoeba/de-en.de: expected a data file (a regular file), "
                                        "found a FIFO")
