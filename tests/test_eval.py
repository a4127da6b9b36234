"""xtreme-eval end to end with tiny random checkpoints: files, figures, round trips and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tiny import HEADS, build_checkpoint, build_suite, build_tokenizer
from xtreme_harness.io.errors import UserError
from xtreme_harness.producers.embedding import default_layer as default_retrieval_layer
from xtreme_harness.run import evaluate
from xtreme_harness.tasks.scoring import score_folders

TASKS7 = "xnli,pawsx,udpos,panx,xquad,mlqa,tydiqa"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("suite") / "ckpt")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "eval", *map(str, args)],
                          capture_output=True, text=True)


def test_real_data_all_families_round_trip(suite, shared_data, tmp_path):
    out = tmp_path / "out"
    res = evaluate(str(suite), tasks=TASKS7, languages="all", data_dir=str(shared_data), split="test", output=str(out),
                   limit=12, progress=False)
    assert res["schema"] == "xtreme-harness/results/v1"
    # Every task with gold in the shared data is scored; PAN-X test has no gold there, so it is reported, not scored.
    for task in ("xnli", "pawsx", "udpos", "xquad", "tydiqa"):
        assert res["tasks"][task]["avg_metric"] >= 0, task
        assert res["coverage"][task]["complete"] is False
    assert res["coverage"]["panx"]["languages"] == [] and "de" in res["coverage"]["panx"]["no_gold"]
    assert res["overall"] == {} and res["partial"] is True
    # Submission files in the official formats.
    xnli = (out / "predictions/xnli/test-de.tsv").read_text().splitlines()
    assert len(xnli) == 12 and set(xnli) <= {"contradiction", "entailment", "neutral"}
    pos = (out / "predictions/udpos/test-zh.tsv").read_text().split("\n\n")
    assert len([s for s in pos if s.strip()]) == 12
    qa = json.loads((out / "predictions/xquad/test-zh.json").read_text())
    assert len(qa) == 12 and all(isinstance(v, str) for v in qa.values())
    # xtreme-score on the written files gives the same figures as results.json.
    scored = score_folders(out / "predictions", out / "labels", warn=lambda m: None)
    for task, figures in scored["tasks"].items():
        for key, value in figures.items():
            if key.startswith("avg_"):
                assert res["tasks"][task][key] == pytest.approx(value, abs=1e-9), (task, key)
    # Per-example records for paired statistics.
    recs = [json.loads(x) for x in (out / "records/xnli/de.jsonl").read_text().splitlines()]
    assert len(recs) == 12 and {"id", "pred", "gold", "correct"} <= set(recs[0])
    assert sum(r["correct"] for r in recs) / 12 * 100 == pytest.approx(res["tasks"]["xnli"]["accuracy"]["de"])
    tag = json.loads((out / "records/udpos/zh.jsonl").read_text().splitlines()[0])
    assert {"tp", "n_pred", "n_gold"} <= set(tag)


def test_qa_predictions_are_substrings_thai_chinese(suite, tmp_path):
    data = tmp_path / "data"
    contexts = {"th": "แมวนั่งบนเสื่อในกรุงเทพ และสุนัขนอนอยู่ข้างประตู", "zh": "猫坐在北京的垫子上。狗睡在门旁边。"}
    for lang, ctx in contexts.items():
        doc = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": [
            {"id": f"{lang}{i}", "question": q, "answers": [{"text": ctx[2:5], "answer_start": 2}]}
            for i, q in enumerate(["ใคร?", "哪里?", "what?"])]}]}]}
        p = data / "xquad" / f"xquad.{lang}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    for options in ({}, {"qa_nbest": "real-tokens", "qa_answer_text": "offsets"}):
        out = tmp_path / ("out" + "-".join(options.values()))
        evaluate(str(suite / "xquad"), tasks="xquad", languages="th,zh", data_dir=str(data), output=str(out),
                 progress=False, **options)
        for lang, ctx in contexts.items():
            preds = json.loads((out / f"predictions/xquad/test-{lang}.json").read_text(encoding="utf-8"))
            assert len(preds) == 3
            if options:  # the exact span, always a substring of the context
                assert all(p and p in ctx for p in preds.values())
            else:  # XTREME's: projected onto the context's words (still a substring), or its placeholder "empty"
                assert all(p == "empty" or (p and p in ctx) for p in preds.values()), preds


def test_resume_reuses_finished_languages(suite, shared_data, tmp_path):
    out = tmp_path / "out"
    first = evaluate(str(suite), tasks="xnli", languages="de,en", data_dir=str(shared_data), output=str(out),
                     limit=8, progress=False)
    state = out / "state/xnli/de.json"
    before = state.stat().st_mtime_ns
    proc = run_cli("--model", suite, "--tasks", "xnli", "--languages", "de,en", "--data-dir", shared_data,
                   "--output", out, "--limit", 8, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "xnli/de: reusing finished result" in proc.stderr
    assert state.stat().st_mtime_ns == before
    second = json.loads((out / "results.json").read_text())
    assert second["tasks"] == first["tasks"]


def test_label_mismatch_lists_both_sets(tmp_path, shared_data):
    ck = build_checkpoint(tmp_path / "bad", "XLMRobertaForSequenceClassification", ["yes", "no", "maybe"])
    proc = run_cli("--model", ck, "--tasks", "xnli", "--languages", "de", "--data-dir", shared_data,
                   "--output", tmp_path / "o")
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "checkpoint has [yes, no, maybe]" in err and "task expects [contradiction, entailment, neutral]" in err


def test_missing_head_is_skipped_with_reason(tmp_path, shared_data):
    ck = build_checkpoint(tmp_path / "nli", "XLMRobertaForSequenceClassification", HEADS["xnli"][1])
    res = evaluate(str(ck), tasks="xnli,panx", languages="de", data_dir=str(shared_data), split="dev",
                   output=str(tmp_path / "o"), limit=4, progress=False)
    assert "panx" in res["skipped"] and "needs a tagging head" in res["skipped"]["panx"]
    assert res["tasks"]["xnli"]["n"] == {"de": 4}


def test_suite_without_a_task_is_skipped(tmp_path, shared_data):
    root = build_suite(tmp_path / "s", tasks={"xnli"})
    res = evaluate(str(root), tasks="xnli,udpos", languages="de", data_dir=str(shared_data), split="dev",
                   output=str(tmp_path / "o"), limit=4, progress=False)
    assert "udpos" in res["skipped"] and "has no checkpoint" in res["skipped"]["udpos"]


@pytest.mark.parametrize("args, fragment", [
    (["--languages", "qq"], None),
    (["--batch-size", "zero"], "--batch-size must be"),
    (["--tasks", "nope"], "unknown task 'nope'"),
    (["--data-dir", "/no/such/dir"], "data folder not found"),
])
def test_usage_errors(suite, shared_data, tmp_path, args, fragment):
    base = ["--model", suite / "xnli", "--tasks", "xnli", "--data-dir", shared_data, "--output", tmp_path / "o"]
    base_args = dict(zip(base[::2], base[1::2]))
    base_args.update(dict(zip(args[::2], args[1::2])))
    proc = run_cli(*[x for kv in base_args.items() for x in kv])
    if fragment is None:  # a language outside the task's list is skipped and reported, not an error
        assert proc.returncode == 0, proc.stderr
        res = json.loads((tmp_path / "o/results.json").read_text())
        assert res["coverage"]["xnli"]["skipped"] == {"qq": "not a xnli language"}
        return
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_named_language_with_missing_files_is_an_error(suite, shared_data, tmp_path):
    proc = run_cli("--model", suite / "pawsx", "--tasks", "pawsx", "--languages", "zh", "--data-dir", shared_data,
                   "--output", tmp_path / "o")
    assert proc.returncode == 2
    assert "pawsx/test-zh.tsv: pawsx data for 'zh' not found" in proc.stderr


def test_remote_code_and_pickle_refused(tmp_path, shared_data):
    ck = build_checkpoint(tmp_path / "rc", "XLMRobertaForSequenceClassification", HEADS["xnli"][1])
    cfg = json.loads((ck / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model"}
    (ck / "config.json").write_text(json.dumps(cfg))
    proc = run_cli("--model", ck, "--tasks", "xnli", "--data-dir", shared_data, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "--trust-remote-code" in proc.stderr
    ck2 = build_checkpoint(tmp_path / "pk", "XLMRobertaForSequenceClassification", HEADS["xnli"][1])
    (ck2 / "model.safetensors").rename(ck2 / "pytorch_model.bin")
    proc = run_cli("--model", ck2, "--tasks", "xnli", "--data-dir", shared_data, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "--allow-pickle" in proc.stderr


def test_checkpoint_without_tokenizer_or_weights(tmp_path, shared_data):
    ck = build_checkpoint(tmp_path / "nt", "XLMRobertaForSequenceClassification", HEADS["xnli"][1])
    (ck / "tokenizer.json").unlink()
    proc = run_cli("--model", ck, "--tasks", "xnli", "--data-dir", shared_data, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "no tokenizer" in proc.stderr
    (ck / "model.safetensors").unlink()
    proc = run_cli("--model", ck, "--tasks", "xnli", "--data-dir", shared_data, "--output", tmp_path / "o")
    assert proc.returncode == 2 and "no weights" in proc.stderr


def test_default_retrieval_layer():
    assert default_retrieval_layer(12) == 8 and default_retrieval_layer(24) == 14
    assert default_retrieval_layer(6) == 4
