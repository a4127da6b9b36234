"""xtreme-score on user mistakes: exit 2, one line naming the file and line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_score(*args):
    return subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", "score", *map(str, args)],
                          capture_output=True, text=True)


def folders(tmp_path, task, lang, pred, gold, ext="tsv"):
    for side, text in (("pred", pred), ("gold", gold)):
        p = tmp_path / side / task / f"test-{lang}.{ext}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return tmp_path / "pred", tmp_path / "gold"


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_ok_and_partial(tmp_path):
    pred, gold = folders(tmp_path, "xnli", "de", "neutral\nentailment\n", "neutral\ncontradiction\n")
    proc = run_score("--predictions", pred, "--labels", gold, "--json", tmp_path / "s.json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["tasks"]["xnli"]["accuracy"] == {"de": 50.0}
    assert data["partial"] is True and data["overall"] == {}
    assert "partial" in proc.stdout


def test_missing_folder(tmp_path):
    proc = run_score("--predictions", tmp_path / "nope", "--labels", tmp_path)
    assert_one_line_error(proc, "nope", "predictions folder not found")


def test_wrong_number_of_lines(tmp_path):
    pred, gold = folders(tmp_path, "xnli", "de", "neutral\nentailment\nneutral\n", "neutral\ncontradiction\n")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, f"{pred}/xnli/test-de.tsv:3:", "3 lines but the labels file")


def test_tag_sentence_mismatch(tmp_path):
    pred, gold = folders(tmp_path, "panx", "de", "O\nO\n\nB-PER\n\n", "O\nO\n\nB-PER\nI-PER\n\n")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, "test-de.tsv:4:", "sentence 2 has 1 tags but its gold sentence has 2")


def test_malformed_json(tmp_path):
    gold_doc = {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "answers": [{"text": "c"}]}]}]}]}
    pred, gold = folders(tmp_path, "xquad", "de", '{"q": "c",\n', json.dumps(gold_doc), ext="json")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, "xquad/test-de.json:2:", "malformed JSON")


def test_unknown_language(tmp_path):
    pred, gold = folders(tmp_path, "xnli", "qq", "neutral\n", "neutral\n")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, "test-qq.tsv", "unknown language 'qq' for task xnli")


def test_label_outside_label_set(tmp_path):
    pred, gold = folders(tmp_path, "xnli", "de", "neutral\nyes\n", "neutral\nneutral\n")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, f"{pred}/xnli/test-de.tsv:2:", "label 'yes' is not in the label set")


def test_unknown_question_id(tmp_path):
    gold_doc = {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q", "answers": [{"text": "c"}]}]}]}]}
    pred, gold = folders(tmp_path, "xquad", "de", '{"q": "c", "zz": "x"}', json.dumps(gold_doc), ext="json")
    proc = run_score("--predictions", pred, "--labels", gold)
    assert_one_line_error(proc, "question id 'zz' is not in the labels file")


@pytest.mark.parametrize("args, fragment", [
    (["--version", "xtreme-x"], "invalid choice"),
    (["--tasks", "nosuch"], "unknown task 'nosuch'"),
])
def test_usage_errors(tmp_path, args, fragment):
    pred, gold = folders(tmp_path, "xnli", "de", "neutral\n", "neutral\n")
    proc = run_score("--predictions", pred, "--labels", gold, *args)
    assert_one_line_error(proc, fragment)
