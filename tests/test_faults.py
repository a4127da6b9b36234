"""Fault injection: every malformed input ends in exit 2 and one stderr line naming file, line and expectation.

Each case in ``CASES`` writes a small input under ``tmp_path`` (a data folder, prediction and label folders, a
spec folder, a recipe or a damaged copy of a tiny checkpoint), runs one CLI and checks: exit code 2, exactly one
line on stderr, no traceback, the line starts with the offending file (and ``:LINE:`` where the fault sits on a
line), it says what was expected, and nothing was written outside the output folder. The acceptance tests at the
end check the opposite for CRLF line ends and a BOM: the same output as for the clean input.
Non-finite logits are covered by test_robustness.py::test_nan_logits_are_an_error_not_a_number.

Speed: a fresh interpreter spends seconds importing torch, so ``eval`` and ``train`` cases run in a process
forked from one warm interpreter (its own stdout, stderr and exit status, as ``python -m`` would have);
``score`` cases, which never import torch, run as plain subprocesses. test_forked_run_matches_a_cold_run
checks that both ways give the same result.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tiny import build_suite

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the warm runner forks")

from faultkit import *  # noqa: F401,F403 - the case vocabulary
from faultkit import _as_file, _config, _truncate, _unlink, _write  # noqa: F401


CASES = [
    # --- TSV pairs (xnli, pawsx) -------------------------------------------------------------------
    evaluate("tsv-truncated-row", "xnli", "de", "dev", {"xnli/dev-de.tsv": XNLI + "Es ist kalt.\tEs fri"},
             "xnli/dev-de.tsv", 3, "some rows have a label and some don't; expected all or none"),
    evaluate("tsv-wrong-column-count", "pawsx", "de", "dev", {"pawsx/dev-de.tsv": PAWSX + "a\tb\t1\textra\n"},
             "pawsx/dev-de.tsv", 3, "expected 2 or 3 tab-separated columns"),
    evaluate("tsv-blank-line", "xnli", "de", "dev", {"xnli/dev-de.tsv": XNLI.replace("\n", "\n\n", 1)},
             "xnli/dev-de.tsv", 2, "expected 2 or 3 tab-separated columns"),
    evaluate("tsv-empty", "xnli", "de", "dev", {"xnli/dev-de.tsv": ""}, "xnli/dev-de.tsv", None,
             "no examples; expected rows"),
    evaluate("tsv-empty-pawsx", "pawsx", "de", "dev", {"pawsx/dev-de.tsv": ""}, "pawsx/dev-de.tsv", None,
             "no examples; expected rows"),
    evaluate("tsv-invalid-utf8", "xnli", "de", "dev",
             {"xnli/dev-de.tsv": XNLI.encode() + b"Es ist k\xffalt.\tx\tneutral\n"},
             "xnli/dev-de.tsv", 3, "invalid UTF-8 (byte 0xff); expected UTF-8 text"),
    evaluate("tsv-unknown-label", "pawsx", "de", "dev", {"pawsx/dev-de.tsv": PAWSX + "a\tb\t2\n"},
             "pawsx/dev-de.tsv", 3, "label '2' is not in the label set (0, 1)"),
    evaluate("tsv-labels-file-shorter", "xnli", "de", "test",
             {"xnli/test-de.tsv": XNLI_TEST, "xnli/labels/test-de.tsv": "entailment\ncontradiction\n"},
             "xnli/labels/test-de.tsv", 3, "2 labels for 3 examples"),
    evaluate("tsv-labels-file-longer", "xnli", "de", "test",
             {"xnli/test-de.tsv": XNLI_TEST, "xnli/labels/test-de.tsv": "entailment\n" * 4},
             "xnli/labels/test-de.tsv", 4, "4 labels for 3 examples"),
    evaluate("tsv-labels-file-empty", "pawsx", "de", "test",
             {"pawsx/test-de.tsv": XNLI_TEST, "pawsx/labels/test-de.tsv": ""},
             "pawsx/labels/test-de.tsv", 1, "0 labels for 3 examples"),
    evaluate("tsv-labels-file-unknown-label", "xnli", "de", "test",
             {"xnli/test-de.tsv": XNLI_TEST, "xnli/labels/test-de.tsv": "entailment\nmaybe\nneutral\n"},
             "xnli/labels/test-de.tsv", 2, "label 'maybe' is not in the label set"),
    # --- CoNLL tagging (udpos, panx) ----------------------------------------------------------------
    evaluate("conll-truncated-line", "udpos", "de", "dev", {"udpos/dev-de.tsv": UD + "\nEs\tPRON\nsch"},
             "udpos/dev-de.tsv", 9, "some words of this sentence have a tag and some don't; expected"),
    evaluate("conll-truncated-tag", "panx", "de", "dev", {"panx/dev-de.tsv": NER + "Bonn\tB-"},
             "panx/dev-de.tsv", 7, "tag 'B-' is not in the tag set"),
    evaluate("conll-wrong-column-count", "udpos", "de", "dev", {"udpos/dev-de.tsv": UD + "ja\tINTJ\tx\n"},
             "udpos/dev-de.tsv", 7, "expected 'word<TAB>tag' or 'word', found 3 columns"),
    evaluate("conll-empty", "udpos", "de", "dev", {"udpos/dev-de.tsv": ""}, "udpos/dev-de.tsv", None,
             "no sentences; expected 'word<TAB>tag' lines"),
    evaluate("conll-only-blank-lines", "panx", "de", "dev", {"panx/dev-de.tsv": "\n\n\n"}, "panx/dev-de.tsv", None,
             "no sentences; expected 'word<TAB>tag' lines"),
    evaluate("conll-invalid-utf8", "panx", "de", "dev",
             {"panx/dev-de.tsv": NER.encode().replace(b"Hallo", b"Hal\xc3lo")},
             "panx/dev-de.tsv", 6, "invalid UTF-8"),
    evaluate("conll-unknown-tag", "panx", "de", "dev", {"panx/dev-de.tsv": NER + "\nBonn\tB-MISC\n"},
             "panx/dev-de.tsv", 8, "tag 'B-MISC' is not in the tag set"),
    evaluate("conll-labels-file-fewer-sentences", "udpos", "de", "test",
             {"udpos/test-de.tsv": UD_TEST, "udpos/labels/test-de.tsv": "DET\nNOUN\nVERB\n\n"},
             "udpos/labels/test-de.tsv", None, "1 gold sentences for 2 sentences"),
    evaluate("conll-labels-file-more-sentences", "udpos", "de", "test",
             {"udpos/test-de.tsv": UD_TEST, "udpos/labels/test-de.tsv": "DET\nNOUN\nVERB\n\nPRON\nVERB\n\nX\n\n"},
             "udpos/labels/test-de.tsv", 8, "3 gold sentences for 2 sentences"),
    evaluate("conll-labels-file-sentence-length", "udpos", "de", "test",
             {"udpos/test-de.tsv": UD_TEST, "udpos/labels/test-de.tsv": "DET\nNOUN\nVERB\n\nPRON\n\n"},
             "udpos/labels/test-de.tsv", 5, "sentence 2 has 1 gold tags for 2 words"),
    # --- SQuAD JSON (xquad, mlqa, tydiqa) -----------------------------------------------------------
    evaluate("json-truncated", "xquad", "de", "test", {DATA["xquad"].format(lang="de"): TRUNC_QA},
             DATA["xquad"].format(lang="de"), TRUNC_QA.count("\n") + 1, "malformed JSON"),
    evaluate("json-empty", "mlqa", "de", "test", {DATA["mlqa"].format(lang="de"): ""},
             DATA["mlqa"].format(lang="de"), None, "data file is empty; expected JSON"),
    evaluate("json-no-data-key", "tydiqa", "en", "test", {DATA["tydiqa"].format(lang="en"): '{"version": "1.1"}'},
             DATA["tydiqa"].format(lang="en"), 1, "expected SQuAD JSON: an object with a 'data' list"),
    evaluate("json-no-questions", "xquad", "de", "test", {DATA["xquad"].format(lang="de"): '{"data": []}'},
             DATA["xquad"].format(lang="de"), None, "no questions; expected SQuAD JSON"),
    evaluate("json-paragraph-without-context", "mlqa", "de", "test", {DATA["mlqa"].format(lang="de"): NO_CONTEXT},
             DATA["mlqa"].format(lang="de"), line_of(NO_CONTEXT, '"q1"'), "lacks 'context' or 'qas'"),
    evaluate("json-question-without-id", "xquad", "de", "test", {DATA["xquad"].format(lang="de"): NO_ID},
             DATA["xquad"].format(lang="de"), line_of(NO_ID, '"Was liegt'), "a question lacks 'id' or 'question'"),
    evaluate("json-answer-without-text", "tydiqa", "en", "test", {DATA["tydiqa"].format(lang="en"): NO_TEXT},
             DATA["tydiqa"].format(lang="en"), line_of(NO_TEXT, '"q2"'), "lacks 'text' or an integer 'answer_start'"),
    evaluate("json-answer-start-not-integer", "xquad", "de", "test", {DATA["xquad"].format(lang="de"): STR_START},
             DATA["xquad"].format(lang="de"), line_of(STR_START, '"q1"'), "an integer 'answer_start'"),
    evaluate("json-offset-off-the-answer", "mlqa", "de", "test", {DATA["mlqa"].format(lang="de"): BAD_OFFSET},
             DATA["mlqa"].format(lang="de"), line_of(BAD_OFFSET, '"q2"'),
             "answer_start 3 of question 'q2' does not point at its answer text 'Paris'"),
    evaluate("json-duplicate-question-id", "xquad", "de", "test", {DATA["xquad"].format(lang="de"): DUP_QA},
             DATA["xquad"].format(lang="de"), line_of(DUP_QA, '"q1"', 2), "duplicate question id 'q1'; expected"),
    evaluate("json-some-questions-unanswered", "tydiqa", "en", "test", {DATA["tydiqa"].format(lang="en"): MIXED_QA},
             DATA["tydiqa"].format(lang="en"), line_of(MIXED_QA, '"q2"'),
             "question 'q2' has no answers but others do; expected"),
    evaluate("json-invalid-utf8", "xquad", "de", "test",
             {DATA["xquad"].format(lang="de"): GOLD_QA.encode().replace(b'"t"', b'"t\xff"')},
             DATA["xquad"].format(lang="de"), line_of(GOLD_QA, '"t"'), "invalid UTF-8"),
    # --- Tatoeba ----------------------------------------------------------------------------------
    evaluate("tatoeba-empty-source", "tatoeba", "de", "test", {"tatoeba/de-en.de": "", "tatoeba/de-en.en": TGT},
             "tatoeba/de-en.de", None, "no sentences; expected one sentence per line"),
    evaluate("tatoeba-empty-target", "tatoeba", "de", "test", {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": ""},
             "tatoeba/de-en.en", None, "no sentences; expected one sentence per line"),
    evaluate("tatoeba-invalid-utf8", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC.encode().replace(b"regnet", b"reg\xfenet"), "tatoeba/de-en.en": TGT},
             "tatoeba/de-en.de", 2, "invalid UTF-8"),
    evaluate("tatoeba-labels-file-shorter", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": "1\n"},
             "tatoeba/labels/test-de.tsv", 2, "1 gold indices for 2 English sentences"),
    evaluate("tatoeba-labels-file-longer", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": "1\n0\n0\n"},
             "tatoeba/labels/test-de.tsv", 3, "3 gold indices for 2 English sentences"),
    evaluate("tatoeba-labels-not-an-index", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": "1\nzero\n"},
             "tatoeba/labels/test-de.tsv", 2, "expected one non-negative integer per line"),
    evaluate("tatoeba-labels-index-out-of-range", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": "1\n2\n"},
             "tatoeba/labels/test-de.tsv", 2, "index 2 is past the end"),
    evaluate("tatoeba-labels-not-a-permutation", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT, "tatoeba/labels/test-de.tsv": "1\n1\n"},
             "tatoeba/labels/test-de.tsv", 2, "index 1 appears twice (also on line 1); expected a permutation"),
    evaluate("tatoeba-sides-differ-in-length", "tatoeba", "de", "test",
             {"tatoeba/de-en.de": SRC + "Noch einmal.\n", "tatoeba/de-en.en": TGT,
              "tatoeba/labels/test-de.tsv": "1\n0\n"},
             "tatoeba/labels/test-de.tsv", None, "gold alignment needs one translation per line on both sides"),
    # --- XTREME-R ------------------------------------------------------------------------------------
    evaluate("xcopa-label-not-0-or-1", "xcopa", "et", "test", {"xcopa/test-et.jsonl": XCOPA.replace('"label": 1',
                                                                                                      '"label": 2')},
             "xcopa/test-et.jsonl", 2, "label 2 must be the integer 0 or 1"),
    evaluate("xcopa-question-not-cause-or-effect", "xcopa", "et", "test",
             {"xcopa/test-et.jsonl": XCOPA.replace('"effect"', '"reason"')}, "xcopa/test-et.jsonl", 2,
             "question 'reason' must be 'cause' or 'effect'"),
    evaluate("lareqa-no-sentence-breaks", "lareqa", "en", "test", {"lareqa/xquad-r/en.json": GOLD_QA},
             "lareqa/xquad-r/en.json", None, "lacks 'sentence_breaks' (a list of [start, end] pairs)"),
    evaluate("mewslix-mention-across-sentences", "mewslix", "en", "test",
             {**MEWSLIX, "mewslix/wikinews_mentions/test-en.jsonl": MEWSLIX_CROSSING},
             "mewslix/wikinews_mentions/test-en.jsonl", 1, "lies in no sentence span (or crosses one)"),
    evaluate("mewslix-duplicate-entity", "mewslix", "en", "test",
             {**MEWSLIX, "mewslix/candidate_set_entities.jsonl": MEWSLIX_ENTITY * 2},
             "mewslix/candidate_set_entities.jsonl", 2, "duplicate entity_id 'Q1'"),
    # --- BUCC ---------------------------------------------------------------------------------------
    evaluate("bucc-duplicate-sentence-id", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": BUCC_DE + "de-1\tNoch einmal.\n", "bucc2018/de-en.test.en": BUCC_EN},
             "bucc2018/de-en.test.de", 3, "duplicate sentence id 'de-1'; expected each id once"),
    evaluate("bucc-missing-tab", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN + "en-3 no tab\n"},
             "bucc2018/de-en.test.en", 3, "expected '<id><TAB><sentence>'"),
    evaluate("bucc-empty-corpus", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": "", "bucc2018/de-en.test.en": BUCC_EN},
             "bucc2018/de-en.test.de", None, "no sentences; expected '<id><TAB><sentence>' lines"),
    evaluate("bucc-gold-unknown-id", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN,
              "bucc2018/de-en.test.gold": "de-1\ten-2\nde-2\ten-9\n"},
             "bucc2018/de-en.test.gold", 2, "names a sentence id not in the corpus files"),
    evaluate("bucc-gold-wrong-column-count", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN,
              "bucc2018/de-en.test.gold": "de-1\ten-2\tx\n"},
             "bucc2018/de-en.test.gold", 1, "expected '<xx-id><TAB><en-id>'"),
    evaluate("bucc-gold-empty", "bucc2018", "de", "test",
             {"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN, "bucc2018/de-en.test.gold": ""},
             "bucc2018/de-en.test.gold", None, "no gold pairs; expected '<xx-id><TAB><en-id>' lines"),
    # --- the hf source: a local dataset repository read through datasets.load_dataset ------------------
    Case("hf-language-without-examples", "eval",
         {"hf/README.md": "---\nconfigs:\n- config_name: XNLI\n  data_files:\n  - split: test\n"
                          "    path: XNLI/test.jsonl\n---\n",
          "hf/XNLI/test.jsonl": json.dumps({"language": "de", "sentence1": "a", "sentence2": "b",
                                            "gold_label": "neutral"}) + "\n"},
         ["--model", "{suite}/xnli", "--tasks", "xnli", "--languages", "fr", "--data-dir", "hf:{tmp}/hf",
          "--output", "{tmp}/out", "--limit", "2", "--no-progress"],
         "hf", None, "config 'XNLI' split 'test' has no examples for 'fr'", located=False,
         env={"HF_DATASETS_CACHE": "{tmp}/cache"}),
    # --- checkpoints --------------------------------------------------------------------------------
    checkpoint("ckpt-no-tokenizer", _unlink("tokenizer.json"), "ck", None, "no tokenizer (expected tokenizer.json"),
    checkpoint("ckpt-no-weights", _unlink("model.safetensors"), "ck", None, "no weights (expected model.safetensors)"),
    checkpoint("ckpt-remote-code", _config(auto_map={"AutoModelForSequenceClassification": "evil.Model"}),
               "ck/config.json", 2, "pass --trust-remote-code only if you trust it"),
    checkpoint("ckpt-pickle-only", lambda ck: (ck / "model.safetensors").rename(ck / "pytorch_model.bin"),
               "ck", None, "pass --allow-pickle if you trust it"),
    checkpoint("ckpt-config-not-json", _write("config.json", '{\n  "architectures": [\n    oops\n}'),
               "ck/config.json", 3, "config.json is not valid JSON"),
    checkpoint("ckpt-config-invalid-utf8", _write("config.json", b'{\n  "name": "\xff"\n}'),
               "ck/config.json", 2, "invalid UTF-8"),
    checkpoint("ckpt-config-bom", lambda ck: (ck / "config.json").write_bytes(
        b"\xef\xbb\xbf" + (ck / "config.json").read_bytes()), "ck/config.json", 1, "expected plain UTF-8 JSON"),
    checkpoint("ckpt-id2label-keys-not-integers",
               _config(id2label={"a": "contradiction", "b": "entailment", "c": "neutral"}),
               "ck/config.json", 2, "must map integer label ids to label names; expected"),
    checkpoint("ckpt-weights-truncated", _truncate("model.safetensors", 4000), "ck", None,
               "cannot load", located=False),
    checkpoint("ckpt-tokenizer-truncated", _truncate("tokenizer.json", 200), "ck", None,
               "cannot load the tokenizer", located=False),
    checkpoint("ckpt-config-value-of-wrong-type", _config(hidden_size="32"), "ck", None,
               "expected int", located=False),
    checkpoint("ckpt-is-a-file", _as_file, "ck", None, "expected a checkpoint folder, found a file"),
    # --- task specs (--task-dir) --------------------------------------------------------------------
    spec_case("spec-language-with-path-characters", SPEC_BAD_LANG, 6, "must be a plain code", cli="eval"),
    spec_case("spec-split-language-with-path-characters",
              SPEC.replace('{path: "news/test-{lang}.tsv"}', '{path: "news/test-{lang}.tsv", languages: [de/x]}'),
              8, "must be a plain code"),
    spec_case("spec-unknown-path-placeholder", SPEC.replace("test-{lang}", "test-{language}"), 8,
              "expected only the placeholder(s) {lang}"),
    spec_case("spec-invalid-utf8", SPEC.encode().replace(b"(news)", b"(n\xe9ws)"), 2, "invalid UTF-8"),
    spec_case("spec-truncated", SPEC[:SPEC.index("entailment")], 9, "invalid YAML"),
    spec_case("spec-empty", "", 1, "the document must be a mapping"),
    # --- xtreme-score: prediction and label files ---------------------------------------------------
    score("score-prediction-truncated", "xnli", "de", "neutral\nentail", "neutral\nentailment\n", "pred", 2,
          "label 'entail' is not in the label set"),
    score("score-prediction-shorter", "pawsx", "de", "1\n", "1\n0\n1\n", "pred", 2,
          "1 lines but the labels file"),
    score("score-prediction-longer-indices", "tatoeba", "de", "1\n0\n2\n", "1\n0\n", "pred", 3,
          "3 lines but the labels file"),
    score("score-prediction-empty", "xnli", "de", "", "neutral\nentailment\n", "pred", 1,
          "0 lines but the labels file"),
    score("score-labels-empty", "xnli", "de", "", "", "gold", None, "has no gold labels; expected one label per line"),
    score("score-labels-invalid-utf8", "pawsx", "de", "1\n0\n", b"1\n\xff\n", "gold", 2, "invalid UTF-8"),
    score("score-tags-prediction-empty", "panx", "de", "", "O\nB-PER\n\n", "pred", None,
          "0 sentences but the labels file"),
    score("score-tags-labels-empty", "udpos", "de", "", "", "gold", None,
          "has no gold labels; expected one tag per line"),
    score("score-tags-prediction-truncated", "panx", "de", "O\nB-P", "O\nB-PER\n\n", "pred", 2,
          "tag 'B-P' is not in the tag set"),
    score("score-indices-not-integers", "tatoeba", "de", "1\none\n", "1\n0\n", "pred", 2,
          "expected one non-negative integer per line"),
    score("score-indices-labels-empty", "tatoeba", "de", "", "", "gold", None,
          "has no gold labels; expected one 0-based line index per line"),
    score("score-xcopa-label-a-string", "xcopa", "et", '{"label": "1"}\n', '{"label": 1}\n', "pred", 1,
          "is not an integer (evaluate.py compares with =="),
    score("score-ranking-entry-not-a-list", "mewslix", "en", '{"q1": "Q1"}', '{"q1": ["Q1"]}', "pred", 1,
          "the entry of 'q1' must be a list of candidate id strings"),
    score("score-pairs-wrong-column-count", "bucc2018", "de", "de-1\ten-2\tx\n", "de-1\ten-2\n", "pred", 1,
          "expected '<xx-id><TAB><en-id>'"),
    score("score-pairs-labels-empty", "bucc2018", "de", "de-1\ten-2\n", "", "gold", None,
          "has no gold labels; expected '<xx-id><TAB><en-id>' lines"),
    score("score-qa-prediction-truncated", "mlqa", "de", '{\n "q1": "Frankreich",\n "q2": "Par', GOLD_QA, "pred", 3,
          "malformed JSON"),
    score("score-qa-prediction-empty", "xquad", "de", "", GOLD_QA, "pred", None,
          "prediction file is empty; expected JSON"),
    score("score-qa-prediction-not-an-object", "tydiqa", "en", '["Frankreich"]', GOLD_QA, "pred", 1,
          "expected a JSON object mapping question id to answer text"),
    score("score-qa-answer-not-a-string", "xquad", "de", '{\n "q1": "Frankreich",\n "q2": 7\n}', GOLD_QA, "pred", 3,
          "answer for question 'q2' must be a string"),
    score("score-qa-labels-no-data-key", "mlqa", "de", "{}", '{"version": "1.1"}', "gold", 1,
          "expected SQuAD JSON: an object with a 'data' list"),
    score("score-qa-labels-no-questions", "xquad", "de", "{}", '{"data": []}', "gold", None,
          "has no gold labels; expected SQuAD JSON with at least one question"),
    score("score-qa-labels-question-without-id", "xquad", "de", "{}", NO_ID, "gold", line_of(NO_ID, '"Was liegt'),
          "a question lacks its 'id'; expected"),
    score("score-qa-labels-answer-without-text", "tydiqa", "en", "{}", NO_TEXT, "gold", line_of(NO_TEXT, '"q2"'),
          "an answer of question 'q2' lacks its 'text'"),
    score("score-qa-labels-duplicate-id", "mlqa", "de", "{}", DUP_QA, "gold", line_of(DUP_QA, '"q1"', 2),
          "duplicate question id 'q1'; expected each id once"),
    score("score-qa-unknown-question-id", "xquad", "de", '{\n "q1": "Paris",\n "q9": "x"\n}', GOLD_QA, "pred", 3,
          "question id 'q9' is not in the labels file"),
    score("score-unknown-language-in-predictions", "tydiqa", "xx", "{}", GOLD_QA, "pred", None,
          "unknown language 'xx' for task tydiqa (expected one of:"),
    # --- xtreme-train recipes -----------------------------------------------------------------------
    recipe("recipe-truncated", RECIPE[:RECIPE.index("epochs")], 5, "invalid YAML"),
    recipe("recipe-unknown-key", RECIPE + "seeed: 1\n", 7, "unknown key 'seeed' (allowed here:"),
    recipe("recipe-empty", "", 1, "recipe is empty"),
    recipe("recipe-invalid-utf8", RECIPE.encode().replace(b"runs/x", b"runs/\xff"), 2, "invalid UTF-8"),
]

# each area's further cases: faults_<area>.py beside this file, a CASES list each
AREAS = ("eval", "scoring", "leaderboard", "train")
for _area in AREAS:
    try:
        CASES += __import__(f"faults_{_area}").CASES
    except ModuleNotFoundError as _exc:
        if _exc.name != f"faults_{_area}":
            raise


# --- running the CLIs ------------------------------------------------------------------------------

_SERVER = r"""
import json, os, runpy, sys, traceback
import seqeval.metrics, transformers  # the heavy imports, paid once here instead of in every case
from transformers import PreTrainedTokenizerFast  # noqa: F401
from transformers.models.xlm_roberta import modeling_xlm_roberta  # noqa: F401
import xtreme_harness.cli, xtreme_harness.run, xtreme_harness.producers.engine, xtreme_harness.mining  # noqa: F401
import xtreme_harness.families, xtreme_harness.tasks.results, xtreme_harness.producers.embedding  # noqa: F401
import xtreme_harness.lmeval.producer, xtreme_harness.metrics, xtreme_harness.tasks.report  # noqa: F401
import xtreme_harness.train.recipes  # noqa: F401
sys.stdout.write("ready\n"); sys.stdout.flush()
for request in sys.stdin:
    req = json.loads(request)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            for fd, key in ((1, "out"), (2, "err")):
                os.dup2(os.open(req[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.environ.update(req["env"])
            sys.argv = ["", *req["argv"]]
            try:
                runpy.run_module("xtreme_harness.cli_entry", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n")
    sys.stdout.flush()
"""


class WarmRunner:
    """One interpreter with torch and transformers imported; each command runs in a fresh fork of it."""

    def __init__(self, log: Path):
        self.log = log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}  # local files only
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log.open("w"), text=True, env=env)
        self.ready = False  # it warms up while the tiny checkpoints are built


    def _reply(self, timeout: float) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"the warm runner did not answer within {timeout}s: {self.log.read_text()[-2000:]}"
        line = self.proc.stdout.readline()
        assert line, f"the warm runner died: {self.log.read_text()[-2000:]}"
        return line.strip()

    def run(self, argv: list[str], scratch: Path, env: dict | None = None,
            timeout: float = 300) -> tuple[int, str, str]:
        if not self.ready:
            assert self._reply(300) == "ready", self.log.read_text()
            self.ready = True
        out, err = scratch / ".stdout", scratch / ".stderr"
        self.proc.stdin.write(json.dumps({"argv": argv, "out": str(out), "err": str(err), "env": env or {}}) + "\n")
        self.proc.stdin.flush()
        code = int(self._reply(timeout))
        texts = out.read_text(), err.read_text()
        out.unlink()
        err.unlink()
        return code, *texts

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.terminate()  # idle between requests: nothing to finish, and torch's teardown takes seconds
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    runner = WarmRunner(tmp_path_factory.mktemp("warm") / "server.log")
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_suite(tmp_path_factory.mktemp("faults") / "suite",
                       tasks={"xnli", "pawsx", "udpos", "panx", "xquad", "encoder", "xcopa"})


def cold(argv: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "xtreme_harness.cli_entry", *argv], capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


COLD = ("score", "leaderboard")  # commands that never import torch run as plain subprocesses


def run_cli(request, cli: str, args: list[str], scratch: Path, env: dict) -> tuple[int, str, str]:
    if cli in COLD:
        return cold([cli, *args])
    return request.getfixturevalue("warm").run([cli, *args], scratch, env)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _materialise(case: Case, tmp: Path, request) -> list[str]:
    for rel, content in case.files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if case.cli not in COLD:
        request.getfixturevalue("warm")  # started first: it imports torch while the suite is built
    suite = request.getfixturevalue("suite") if "{suite}" in " ".join(case.args) or case.ckpt else None
    if case.ckpt:
        source, damage = case.ckpt
        shutil.copytree(suite / source, tmp / "ck")
        damage(tmp / "ck")
    return [a.format(tmp=tmp, suite=suite) for a in case.args]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_fault(case: Case, tmp_path: Path, request):
    tmp = tmp_path.resolve()
    args = _materialise(case, tmp, request)
    before = _files(tmp)
    code, _, err = run_cli(request, case.cli, args, tmp, {k: v.format(tmp=tmp) for k, v in case.env.items()})
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line on stderr, got:\n{err}"
    line = err.rstrip("\n")
    path = str(tmp / case.at)
    if case.located:
        where = f"{path}:{case.line}: " if case.line is not None else f"{path}: "
        assert line.startswith(f"xtreme-{case.cli}: error: {where}"), line
    else:
        assert path in line, line
    assert case.says in line, line
    written = {f for f in _files(tmp) - before if not f.startswith(("out/", "cache/"))}  # cache: env of hf case
    assert not written, f"written outside the output folder: {sorted(written)}"


def test_forked_run_matches_a_cold_run(tmp_path, request):
    """The warm runner is only a faster ``python -m``: same exit code, same stderr."""
    case = next(c for c in CASES if c.name == "tsv-invalid-utf8")
    args = _materialise(case, tmp_path.resolve(), request)
    assert request.getfixturevalue("warm").run(["eval", *args], tmp_path) == cold(["eval", *args])


def test_cases_have_unique_names():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_readme_states_the_number_of_cases():
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"fault-injection suite of \*\*(\d+) cases\*\*", readme)
    assert stated and int(stated.group(1)) == len(CASES)


# --- CRLF and a BOM are accepted and change nothing ------------------------------------------------------

def _dos(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _dos_copy(src: Path, dst: Path) -> Path:
    for p in sorted(src.rglob("*")):
        if p.is_file():
            q = dst / p.relative_to(src)
            q.parent.mkdir(parents=True, exist_ok=True)
            q.write_bytes(_dos(p.read_bytes()))
    return dst


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Demo data in every format, JSON spread over many lines so that CRLF lands inside the documents."""
    from xtreme_harness.demo_data import write_demo_data

    root = write_demo_data(tmp_path_factory.mktemp("demo") / "data", languages=("de",), size="tiny")
    for p in root.rglob("*"):
        if p.suffix == ".json":
            p.write_text(json.dumps(json.loads(p.read_text(encoding="utf-8")), indent=1, ensure_ascii=False) + "\n",
                         encoding="utf-8")
        elif p.is_file():  # csv writes CRLF: the baseline here is plain LF
            p.write_bytes(p.read_bytes().replace(b"\r\n", b"\n"))
    return root


def test_crlf_and_bom_give_the_same_results_in_every_reader_and_the_scorer(tmp_path, warm, demo, suite):
    dos = _dos_copy(demo, tmp_path / "dos")
    tasks = "xnli,panx,xquad,tatoeba,bucc2018"  # tsv pairs + labels file, CoNLL + labels file, SQuAD, retrieval
    outs = []
    for name, data in (("lf", demo), ("dos", dos)):
        out = tmp_path / f"out-{name}"
        code, _, err = warm.run(["eval", "--model", str(suite), "--tasks", tasks, "--languages", "de", "--data-dir",
                                 str(data), "--output", str(out), "--limit", "2", "--no-progress"], tmp_path)
        assert code == 0, err
        outs.append(out)
    lf, dos_out = outs
    files = {f for f in _files(lf) if f.startswith(("predictions/", "labels/"))}
    assert len(files) == 10 and files == {f for f in _files(dos_out) if f.startswith(("predictions/", "labels/"))}
    for f in sorted(files):
        assert (lf / f).read_bytes() == (dos_out / f).read_bytes(), f
    res_lf, res_dos = (json.loads((o / "results.json").read_text()) for o in outs)
    assert set(res_lf["tasks"]) == set(tasks.split(","))
    assert res_lf["tasks"] == res_dos["tasks"]

    # xtreme-score: the same figures from the written files and from their CRLF + BOM copies.
    scores = []
    for name, pred, gold in (("lf", lf / "predictions", lf / "labels"),
                             ("dos", _dos_copy(lf / "predictions", tmp_path / "p"),
                              _dos_copy(lf / "labels", tmp_path / "g"))):
        code, _, err = cold(["score", "--predictions", str(pred), "--labels", str(gold), "--json",
                             str(tmp_path / f"{name}.json")])
        assert code == 0, err
        scores.append(json.loads((tmp_path / f"{name}.json").read_text()))
    assert scores[0] == scores[1] and set(scores[0]["tasks"]) == set(tasks.split(","))


def test_crlf_and_bom_in_a_spec_and_a_recipe_change_nothing(tmp_path, warm):
    outputs = []
    for name, transform in (("lf", lambda b: b), ("dos", _dos)):
        d = tmp_path / name
        for rel, text in {"specs/news.yaml": SPEC, "pred/xnli_news/test-de.tsv": "neutral\nentailment\n",
                          "gold/xnli_news/test-de.tsv": "neutral\ncontradiction\n", "r.yaml": RECIPE}.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(transform(text.encode()))
        code, _, err = cold(["score", "--predictions", str(d / "pred"), "--labels", str(d / "gold"), "--task-dir",
                             str(d / "specs"), "--tasks", "xnli_news", "--version", "xtreme", "--json",
                             str(d / "s.json")])
        assert code == 0, err
        code, recipe_out, err = warm.run(["train", "check", str(d / "r.yaml")], tmp_path)
        assert code == 0, err
        outputs.append((json.loads((d / "s.json").read_text()), recipe_out))
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["tasks"]["xnli_news"]["accuracy"] == {"de": 50.0}
