"""XTREME-R: XCOPA, LAReQA and Mewsli-X end to end, their official figures, and the XTREME-R aggregation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import GOLDEN, ROOT, SHARED_DATA
from tiny import build_checkpoint, build_suite
from xtreme_harness.cli import score_main
from xtreme_harness.io.errors import UserError
from xtreme_harness.run import evaluate
from xtreme_harness.tasks.scoring import score_folders

OFFICIAL, MOCK = GOLDEN / "official", GOLDEN / "mock"
needs_golden = pytest.mark.skipif(not GOLDEN.is_dir(), reason="../shared/golden is absent")
needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


# --- the official figures -------------------------------------------------------------------------

@needs_golden
def test_xcopa_golden_figures():
    expected = json.loads((OFFICIAL / "expected_xtreme_r.json").read_text())["xcopa"]
    got = score_folders(OFFICIAL / "predictions", OFFICIAL / "labels", tasks=["xcopa"], version="xtreme-r")
    xcopa = got["tasks"]["xcopa"]
    langs = [lang for lang in expected if not lang.startswith("_")]
    assert sorted(xcopa["accuracy"]) == sorted(langs)
    for lang in langs:
        assert xcopa["accuracy"][lang] == pytest.approx(expected[lang]["accuracy"], abs=1e-9)
    # eight of XTREME-R's eleven languages: averaged over those present, and partial
    assert xcopa["avg_accuracy"] == pytest.approx(expected["_average"]["avg_accuracy"], abs=1e-9)
    assert got["coverage"]["xcopa"]["missing"] == ["ht", "qu", "ta"]


@needs_golden
def test_mewslix_mock_figures_and_the_xtreme_r_aggregation(capsys):
    expected = json.loads((MOCK / "expected_xtreme_r_tasks.json").read_text())["mewslix"]
    got = score_folders(MOCK / "predictions", MOCK / "labels", version="xtreme-r")
    mewslix = got["tasks"]["mewslix"]
    for lang, figures in expected.items():
        assert mewslix["map@20"][lang] == pytest.approx(figures["map@20"], abs=1e-9)
    assert mewslix["avg_map@20"] == pytest.approx(14.39025156130419, abs=1e-9)  # evaluate_test.py's figure
    assert got["coverage"]["mewslix"]["complete"] is True
    # nothing is dropped without a word: the tasks the folders lack are listed, XTREME-only folders named
    assert got["not_scored"] == {"xcopa": "no predictions folder", "lareqa": "no predictions folder"}
    err = capsys.readouterr().err
    assert "bucc2018" in err and "pawsx" in err and "xcopa (no predictions folder)" in err
    assert "all_task" not in got["overall"] and "multi_choice" not in got["overall"]
    # under XTREME, Mewsli-X is not a task: its folder is ignored, with a warning
    xtreme = score_folders(MOCK / "predictions", MOCK / "labels", version="xtreme")
    assert "mewslix" not in xtreme["tasks"] and "mewslix" in capsys.readouterr().err


def test_xtreme_r_categories_and_the_all_task_score(tmp_path):
    """evaluate.py's XTREME-R aggregation: xcopa counts in classification and multi_choice, LAReQA in no
    category, and with LAReQA's empty language list the all-task score is never reported; the harness
    gives the mean of all ten tasks as a secondary figure instead."""
    from xtreme_harness.tasks.scoring import aggregate_task, overall_scores
    from xtreme_harness.spec import benchmark_tasks
    from xtreme_harness.tasks.registry import registry

    specs = registry()
    tasks, complete = {}, set()
    for i, task in enumerate(benchmark_tasks("xtreme-r")):
        spec = specs[task]
        langs = list(spec.languages("xtreme-r") or spec.all_languages())
        per_lang = {lang: {k: 40.0 + i for k in spec.metrics.primary} for lang in langs}
        tasks[task] = aggregate_task(spec, per_lang, None, langs, langs)
        complete.add(task)
    official, secondary = overall_scores(tasks, complete, "xtreme-r")
    assert "all_task" not in official
    assert secondary["all_task"] == pytest.approx(np.mean([t["avg_metric"] for t in tasks.values()]))
    assert official["multi_choice"] == tasks["xcopa"]["avg_metric"]
    assert official["classification"] == pytest.approx((tasks["xnli"]["avg_metric"] + tasks["xcopa"]["avg_metric"]) / 2)
    assert official["retrieval"] == pytest.approx((tasks["tatoeba"]["avg_metric"] + tasks["mewslix"]["avg_metric"]) / 2)


def test_xtreme_r_board_shows_the_secondary_all_task_score(tmp_path):
    from xtreme_harness import __version__
    from xtreme_harness.leaderboard import build_board, entry_from_dict, render
    from xtreme_harness.tasks.scoring import aggregate_task, overall_scores
    from xtreme_harness.spec import benchmark_tasks
    from xtreme_harness.tasks.registry import registry

    specs = registry()
    tasks, coverage = {}, {}
    for i, task in enumerate(benchmark_tasks("xtreme-r")):
        spec = specs[task]
        langs = list(spec.languages("xtreme-r") or spec.all_languages())
        tasks[task] = aggregate_task(spec, {lang: {k: 50.0 + i for k in spec.metrics.primary} for lang in langs},
                                     None, langs, langs)
        coverage[task] = {"complete": True, "languages": langs, "missing": []}
    official, secondary = overall_scores(tasks, set(tasks), "xtreme-r")
    doc = {"schema": "xtreme-harness/results/v1", "harness_version": __version__, "version": "xtreme-r",
           "model": {"name": "m"}, "overall": official, "overall_secondary": secondary, "tasks": tasks,
           "coverage": coverage}
    entry = entry_from_dict(doc, "r.json")
    assert not entry.partial and entry.score == pytest.approx(secondary["all_task"])
    text = render(build_board([entry]), "md")
    assert f"| m | {secondary['all_task']:.1f}‡ |" in text and "never reports an XTREME-R score" in text
    # a wrong secondary figure is refused like a wrong official one
    doc["overall_secondary"] = {"all_task": secondary["all_task"] + 1}
    with pytest.raises(UserError, match="overall_secondary.all_task"):
        entry_from_dict(doc, "r.json")


def test_xcopa_scorer_is_strict_about_integers(tmp_path):
    for side, lines in (("pred", ['{"label": "1"}', '{"label": 0}']), ("gold", ['{"label": 1}', '{"label": 0}'])):
        (tmp_path / side / "xcopa").mkdir(parents=True)
        (tmp_path / side / "xcopa" / "test-et.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match='label \'1\' is not an integer') as err:
        score_folders(tmp_path / "pred", tmp_path / "gold", tasks=["xcopa"], version="xtreme-r")
    assert "pred/xcopa/test-et.jsonl:1" in str(err.value)


# --- Mewsli-X -------------------------------------------------------------------------------------

def test_mention_query_as_utils_mewslix_builds_it():
    from xtreme_harness.formats.rankings import entity_text, mention_query

    text = ("Prosecutors said so. The verdict came back for Smith, who stepped down as AG of {Fictitious} County "
            "in February, 2012.  Then it ended.")
    start = text.index("Smith")
    s1 = text.index("The verdict")
    s2 = text.index("Then")
    context = {"text": text, "sentence_spans": [{"start": 0, "end": s1 - 1}, {"start": s1, "end": s2 - 2},
                                                {"start": s2, "end": len(text)}]}
    mention = {"example_id": "x", "mention_span": {"start": start, "end": start + 5, "text": "Smith"}}
    assert mention_query(context, mention, (Path("m.jsonl"), 1)) == (
        "Smith: The verdict came back for { Smith } , who stepped down as AG of (Fictitious) County in "
        "February, 2012.")
    crossing = {"example_id": "y", "mention_span": {"start": s1 - 5, "end": s1 + 3, "text": text[s1 - 5:s1 + 3]}}
    with pytest.raises(UserError, match="lies in no sentence span") as err:
        mention_query(context, crossing, (Path("m.jsonl"), 3))
    assert str(err.value).startswith("m.jsonl:3: ")
    desc = "Oslo is the capital.\nIt is  large.  Not used."
    assert entity_text({"description": desc, "sentence_spans": [{"start": 0, "end": 20}, {"start": 21, "end": 35}]}) \
        == "Oslo is the capital. It is large."


def _mewslix_layout(root: Path) -> None:
    """A small Mewsli-X folder in the layout download_data.sh leaves: candidates, mentions, labels."""
    cities = ["Oslo", "Tokyo", "Lima", "Quito", "Accra", "Hanoi", "Dakar", "Perth"]
    ents = [{"entity_id": f"Q{i}", "title": c, "description": f"{c} is a city.",
             "sentence_spans": [{"start": 0, "end": len(c) + 9}], "description_language": "en"}
            for i, c in enumerate(cities)]
    base = root / "mewslix"
    (base / "wikinews_mentions").mkdir(parents=True)
    (base / "wikinews_labels").mkdir()
    (base / "candidate_set_entities.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ents))
    for lang, verb in (("en", "lives in"), ("de", "wohnt in")):
        lines, labels = [], {}
        for i, c in enumerate(cities):
            text = f"Ada {verb} {c}."
            start = text.index(c)
            eid = f"{lang}{i:02d}"
            labels[eid] = [f"Q{i}"]
            lines.append(json.dumps({"context": {"language": lang, "text": text,
                                                 "sentence_spans": [{"start": 0, "end": len(text)}]},
                                     "mentions": [{"example_id": eid, "entity_id": f"Q{i}",
                                                   "mention_span": {"start": start, "end": start + len(c),
                                                                    "text": c}}]}))
        (base / "wikinews_mentions" / f"test-{lang}.jsonl").write_text("\n".join(lines) + "\n")
        (base / "wikinews_labels" / f"test-{lang}.json").write_text(json.dumps(labels))
        blank = {k: [""] for k in labels}  # what XTREME-R's preprocessing leaves for test: no gold
        (base / "wikinews_labels" / f"dev-{lang}.json").write_text(json.dumps(blank))
        (base / "wikinews_mentions" / f"dev-{lang}.jsonl").write_text("\n".join(lines) + "\n")


def test_mewslix_through_xtreme_eval(tmp_path):
    data = tmp_path / "data"
    _mewslix_layout(data)
    suite = build_suite(tmp_path / "suite", tasks={"encoder"})
    out = tmp_path / "out"
    res = evaluate(str(suite), tasks="mewslix", languages="en,de", data_dir=str(data), output=str(out),
                   version="xtreme-r", progress=False)
    task = res["tasks"]["mewslix"]
    assert set(task["map@20"]) == {"en", "de"} and task["n"] == {"en": 8, "de": 8}
    preds = json.loads((out / "predictions/mewslix/test-en.json").read_text())
    assert list(preds) == [f"en{i:02d}" for i in range(8)]
    assert all(len(v) == 8 and set(v) == {f"Q{i}" for i in range(8)} for v in preds.values())  # 8 < k = 20
    # the official metric recomputed by hand: reciprocal rank of the gold entity
    rr = [1 / (preds[f"en{i:02d}"].index(f"Q{i}") + 1) for i in range(8)]
    assert task["map@20"]["en"] == pytest.approx(100 * sum(rr) / 8, abs=1e-9)
    recs = [json.loads(x) for x in (out / "records/mewslix/en.jsonl").read_text().splitlines()]
    assert [r["ap"] for r in recs] == pytest.approx(rr)
    scored = score_folders(out / "predictions", out / "labels", tasks=["mewslix"], version="xtreme-r")
    assert scored["tasks"]["mewslix"]["map@20"] == pytest.approx(task["map@20"], abs=1e-9)
    # blanked labels (XTREME-R's test preprocessing) mean predictions without a score
    dev = evaluate(str(suite), tasks="mewslix", languages="en", data_dir=str(data), output=str(tmp_path / "dev"),
                   version="xtreme-r", split="dev", progress=False)
    assert dev["coverage"]["mewslix"]["no_gold"] == ["en"] and "map@20" not in dev["tasks"]["mewslix"]


# --- LAReQA -------------------------------------------------------------------------------------

@needs_data
def test_lareqa_reader_pools_every_language():
    from xtreme_harness.tasks.data import read_split
    from xtreme_harness.tasks.registry import get_task

    rs = read_split(get_task("lareqa"), SHARED_DATA, "de", "test")
    langs = sorted(p.stem for p in (SHARED_DATA / "lareqa" / "xquad-r").glob("*.json"))
    assert rs.n == 1190 and len(rs.relevant) == rs.n
    assert {c.split("_")[0] for c in rs.candidate_ids} == set(langs)
    # each question's answer sentence in every language of the pool is relevant
    assert all(sorted(c.split("_")[0] for c in rel) == langs for rel in rs.relevant[:50])
    doc = json.loads((SHARED_DATA / "lareqa/xquad-r/de.json").read_text())
    para = doc["data"][0]["paragraphs"][0]
    s, e = para["sentence_breaks"][0]
    assert rs.candidates[rs.candidate_ids.index("de_1_0")] == (para["context"][s:e] + para["context"]).replace("\n", "")


@pytest.mark.slow
@needs_data
def test_real_encoder_on_lareqa(tmp_path, me5):
    """me5-small ranks the answer sentences of two languages far above chance; figures recomputed by hand."""
    data = tmp_path / "data"
    (data / "lareqa" / "xquad-r").mkdir(parents=True)
    for lang in ("en", "de"):
        (data / "lareqa" / "xquad-r" / f"{lang}.json").symlink_to(SHARED_DATA / "lareqa" / "xquad-r" / f"{lang}.json")
    out = tmp_path / "out"
    res = evaluate(str(me5), tasks="lareqa", languages="en,de", data_dir=str(data), output=str(out),
                   version="xtreme-r", limit=60, max_length=64, retrieval_layer=12, progress=False)
    task = res["tasks"]["lareqa"]
    assert task["n"] == {"en": 60, "de": 60}
    assert task["stats"]["de"]["candidates"] > 2000 and task["stats"]["de"]["k"] == 20
    for lang in ("en", "de"):
        assert task["map@20"][lang] > 30, (lang, task["map@20"][lang])  # chance: about 2 in 2,400
    preds = json.loads((out / "predictions/lareqa/test-de.json").read_text())
    gold = json.loads((out / "labels/lareqa/test-de.json").read_text())

    def ap(rel, ranked):
        hits = score = 0.0
        for i, c in enumerate(ranked[:20]):
            if c in rel:
                hits += 1
                score += hits / (i + 1)
        return score / min(len(rel), 20)

    assert all(len(v) == 20 for v in preds.values()) and all(len(r) == 2 for r in gold.values())
    assert task["map@20"]["de"] == pytest.approx(100 * np.mean([ap(gold[q], preds[q]) for q in gold]), abs=1e-9)
    assert res["overall"] == {} and res["coverage"]["lareqa"]["complete"] is False


# --- XCOPA --------------------------------------------------------------------------------------

COPA = [("The man turned on the faucet.", "effect", "The toilet filled with water.", "Water flowed from the spout.", 1),
        ("The girl found a bug in her cereal.", "effect", "She poured milk in the bowl.", "She lost her appetite.", 1),
        ("The woman retired.", "effect", "She received her pension.", "She paid off her mortgage.", 0),
        ("I wanted to conserve energy.", "effect", "I swept the floor.", "I switched off the light.", 1),
        ("The hamburger meat browned.", "cause", "The cook froze it.", "The cook grilled it.", 1),
        ("I doubted the salesman's pitch.", "effect", "I turned his offer down.", "He persuaded me.", 0),
        ("I decided to stay home.", "cause", "The weather was bad.", "I had a lot of energy.", 0),
        ("My body cast a shadow over the grass.", "cause", "The sun was rising.", "The grass was cut.", 0)]


def _copa(path: Path, items) -> Path:
    path.write_text("".join(json.dumps({"premise": p, "question": q, "choice1": a, "choice2": b, "label": y,
                                        "idx": i}) + "\n" for i, (p, q, a, b, y) in enumerate(items)))
    return path


def test_xcopa_trains_from_a_copa_file_and_is_scored(tmp_path):
    """xtreme-train's XCOPA target from a user-given English COPA file; a *ForMultipleChoice suite member."""
    base = build_checkpoint(tmp_path / "base", "XLMRobertaModel")
    copa = _copa(tmp_path / "copa-train.jsonl", COPA * 4)
    run = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "train", "--base", str(base),
                          "--targets", "xcopa", "--train-file", f"xcopa={copa}", "--out", str(tmp_path / "suite"),
                          "--max-steps", "6", "--batch-size", "8", "--device", "cpu", "--no-progress"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    cfg = json.loads((tmp_path / "suite/xcopa/config.json").read_text())
    assert cfg["architectures"] == ["XLMRobertaForMultipleChoice"]
    data = tmp_path / "data" / "xcopa"
    data.mkdir(parents=True)
    _copa(data / "test-et.jsonl", COPA)
    out = tmp_path / "out"
    res = evaluate(str(tmp_path / "suite"), tasks="xcopa", languages="et", data_dir=str(tmp_path / "data"),
                   output=str(out), version="xtreme-r", progress=False)
    lines = (out / "predictions/xcopa/test-et.jsonl").read_text().splitlines()
    assert len(lines) == 8 and all(json.loads(x)["label"] in (0, 1) and x.startswith('{"label": ') for x in lines)
    assert score_main(["--predictions", str(out / "predictions"), "--labels", str(out / "labels"), "--tasks",
                       "xcopa", "--version", "xtreme-r", "--json", str(tmp_path / "s.json")]) == 0
    scored = json.loads((tmp_path / "s.json").read_text())
    assert scored["tasks"]["xcopa"]["accuracy"]["et"] == pytest.approx(res["tasks"]["xcopa"]["accuracy"]["et"])


@pytest.mark.slow
@needs_data
def test_real_encoder_on_xcopa(tmp_path, me5):
    """me5-small with a multiple-choice head trained briefly on English COPA items, on real XCOPA data;
    every prediction checked against plain transformers on the pairs run_xcopa.py builds."""
    import torch
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    copa = _copa(tmp_path / "copa-train.jsonl", COPA * 2)
    from xtreme_harness.cli import train_main

    assert train_main(["--base", str(me5), "--targets", "xcopa", "--train-file", f"xcopa={copa}",
                       "--out", str(tmp_path / "suite"), "--max-steps", "4", "--batch-size", "8",
                       "--freeze-layers", "10", "--device", "cpu", "--no-progress"]) == 0
    out = tmp_path / "out"
    res = evaluate(str(tmp_path / "suite"), tasks="xcopa", languages="et,zh", data_dir=str(SHARED_DATA),
                   output=str(out), version="xtreme-r", limit=60, progress=False)
    assert set(res["tasks"]["xcopa"]["accuracy"]) == {"et", "zh"}

    ckpt = tmp_path / "suite" / "xcopa"
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    model = AutoModelForMultipleChoice.from_pretrained(str(ckpt)).eval()
    rows = [json.loads(x) for x in (SHARED_DATA / "xcopa/test-zh.jsonl").read_text().splitlines()[:60]]
    want = []
    for r in rows:
        first = f"{r['premise']} What was the {r['question']}?"
        enc = tok([first, first], [r["choice1"], r["choice2"]], truncation=True, max_length=128, padding=True,
                  return_tensors="pt")
        with torch.no_grad():
            logits = model(**{k: v[None] for k, v in enc.items()}).logits[0]
        want.append(int(logits.argmax()))
    got = [json.loads(x)["label"] for x in (out / "predictions/xcopa/test-zh.jsonl").read_text().splitlines()]
    assert got == want
    acc = 100 * np.mean([p == r["label"] for p, r in zip(got, rows)])
    assert res["tasks"]["xcopa"]["accuracy"]["zh"] == pytest.approx(acc, abs=1e-9)
