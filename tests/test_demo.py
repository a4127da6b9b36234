"""The demo: tokenizer and tiny encoder builders, and the whole pipeline on the tiny demo data."""

from __future__ import annotations

import json

import pytest


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: tiny models run on one thread


def test_tokenizer_is_xlmr_style_and_fast(tmp_path):
    from transformers import AutoTokenizer

    from xtreme_harness.demo import build_tokenizer
    from xtreme_harness.families.tagging import is_roberta_style

    build_tokenizer(["Marco Rossi lives in Tokyo .", "Marco Rossi wohnt in Tokio .", "马可住在东京。"] * 5,
                    tmp_path / "tok", vocab_size=200)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert tok.is_fast and is_roberta_style(tok)
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id) == (0, 1, 2)
    enc = tok("Marco lives", "in Tokyo", return_offsets_mapping=True)
    toks = tok.convert_ids_to_tokens(enc["input_ids"])
    assert toks[0] == "<s>" and toks[-1] == "</s>" and toks.count("</s>") == 3  # <s> a </s></s> b </s>
    assert "token_type_ids" not in enc
    text = "马可住在东京"
    spans = [text[s:e] for s, e in tok(text, return_offsets_mapping=True)["offset_mapping"] if e > s]
    assert "".join(spans) == text  # CJK split per character, offsets exact


def test_the_same_corpus_gives_the_same_tokenizer_in_every_process(tmp_path):
    """tokenizers' WordPiece trainer breaks ties in a per-process hash order; the demo's vocabulary must not."""
    import subprocess
    import sys

    code = ("import sys; from xtreme_harness.demo import build_tokenizer; "
            "build_tokenizer(['a b c d e f g h', 'h g f e d c b a', 'x y z a b'] * 3, sys.argv[1], vocab_size=40)")
    for name in ("one", "two", "three"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], check=True)
    vocabs = {(tmp_path / name / "tokenizer.json").read_bytes() for name in ("one", "two", "three")}
    assert len(vocabs) == 1


def test_demo_builds_a_suite_and_evaluates_it(tmp_path, capsys):
    from xtreme_harness.demo import main

    out = tmp_path / "demo"
    assert main(["run", "--out", str(out), "--size", "tiny", "--languages", "en,de", "--no-progress"]) == 0
    suite = out / "suite"
    for task in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "encoder"):
        cfg = json.loads((suite / task / "config.json").read_text())
        assert cfg["xtreme_intermediate"] == ["demo_nli"], task
        assert (suite / task / "model.safetensors").is_file() and (suite / task / "tokenizer.json").is_file()
    base = json.loads((out / "base" / "config.json").read_text())
    assert base["hidden_size"] == 64 and base["num_hidden_layers"] == 2 and base["model_type"] == "xlm-roberta"
    results = json.loads((out / "results" / "results.json").read_text())
    assert results["model"]["intermediate"] == ["demo_nli"]
    training = results["model"]["training"]  # the demo's MLM step is its base model's pretraining
    assert training["intermediate"] == ["demo_nli"] and training["mlm"] is None and training["seed"] == 0
    assert training["base_model"] == str(out / "pretrained" / "encoder") and training["parameters"] > 0
    assert set(results["tasks"]) == {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018",
                                     "tatoeba"}
    assert "panx" in capsys.readouterr().out
    # XTREME-R: the same suite plus its XCOPA head, and a board
    xcopa = json.loads((suite / "xcopa" / "config.json").read_text())
    assert xcopa["architectures"] == ["XLMRobertaForMultipleChoice"]
    results_r = json.loads((out / "results-xtreme-r" / "results.json").read_text())
    assert results_r["version"] == "xtreme-r"
    assert set(results_r["tasks"]) == {"xnli", "panx", "udpos", "tatoeba", "lareqa", "mewslix", "xquad", "mlqa",
                                       "tydiqa", "xcopa"}
    assert len(results_r["coverage"]["xcopa"]["missing_data"]) == 11  # the demo's en and de are no XCOPA languages
    assert set(results_r["tasks"]["lareqa"]["map@20"]) == {"en", "de"}
    board = (out / "leaderboard-xtreme-r.md").read_text()
    assert "| Model | Params | XTREME-R |" in board and "Mewsli-X" in board and "LAReQA" in board

    # A second run reuses every finished step.
    done = suite / "train" / "xnli" / "done.json"
    before = done.stat().st_mtime_ns
    assert main(["run", "--out", str(out), "--size", "tiny", "--languages", "en,de", "--no-progress",
                 "--no-eval"]) == 0
    assert done.stat().st_mtime_ns == before
