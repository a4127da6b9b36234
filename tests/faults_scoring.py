"""Fault cases of the file readers: prediction files, gold files and data files, through xtreme-score and xtreme-eval.

Grouped by the failure they guard against: input that used to be scored (blank gold, repeated JSON keys,
non-ASCII digits), input that used to end in a traceback (deep nesting, wrong JSON types), input too large to
quote or to split, and files that are not regular files.
"""

from __future__ import annotations

import json

from faultkit import (BUCC_DE, BUCC_EN, CTX, DATA, GOLD_QA, MEWSLIX, MEWSLIX_ENTITY, Q1, Q2, SRC, TGT, UD, UD_TEST,
                      XNLI, XNLI_TEST, XCOPA, Case, evaluate, line_of, score, squad)

DEEP = "[" * 100_000 + "]" * 100_000
XQUAD, MLQA, TYDIQA = (DATA[t].format(lang=lang) for t, lang in (("xquad", "de"), ("mlqa", "de"), ("tydiqa", "en")))
TATOEBA = {"tatoeba/de-en.de": SRC, "tatoeba/de-en.en": TGT}
BUCC = {"bucc2018/de-en.test.de": BUCC_DE, "bucc2018/de-en.test.en": BUCC_EN}
XCOPA_TEST = "".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "label"}) + "\n"
                     for line in XCOPA.splitlines())
MEWSLIX_LABELS = "mewslix/wikinews_labels/test-en.json"
MEWSLIX_MENTIONS = "mewslix/wikinews_mentions/test-en.jsonl"
LAREQA = "lareqa/xquad-r/en.json"


def _doc(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False)


def _lareqa(para) -> str:
    return _doc({"data": [{"title": "t", "paragraphs": [para]}]})


LAREQA_PARA = {"context": CTX, "sentence_breaks": [[0, len(CTX)]], "qas": [Q1]}
# A SQuAD file whose first question repeats its 'answers' key: json.loads would keep the second silently.
DUP_KEY_QA = GOLD_QA.replace('"question": "Wo liegt Paris?",', '"question": "Wo liegt Paris?",\n       "answers": [],',
                             1)
ANSWERS_NUMBER = squad(dict(Q1, answers=5))
ANSWERS_STRING = squad(dict(Q1, answers="Frankreich"))
ANSWERS_NOT_OBJECTS = squad(dict(Q1, answers=[5]))
QAS_NUMBER = squad(para={"context": CTX, "qas": 5})
CONTEXT_NUMBER = squad(para={"context": 5, "qas": [Q1]})
ID_NUMBER = squad(dict(Q1, id=5), Q2)
START_BOOL = squad(dict(Q1, answers=[{"text": "Frankreich", "answer_start": True}]))
PARAGRAPHS_OBJECT = _doc({"version": "1.1", "data": [{"title": "t", "paragraphs": {}}]})
ARTICLE_NUMBER = _doc({"version": "1.1", "data": [5]})
DATA_STRING = '{"version": "1.1", "data": "x"}'
QA_DUP_PRED = '{\n "q1": "Frankreich",\n "q2": "Paris",\n "q1": "Paris"\n}'
HUGE = "x" * 300_000
TABS = "\t" * 1_000_000

CASES = [
    # --- gold that would score as 0 -------------------------------------------------------------------
    score("score-tags-labels-only-blank-lines", "udpos", "de", "\n\n\n", "\n\n\n", "gold", None,
          "no sentences, only blank lines; expected one tag per line"),
    score("score-tags-labels-only-blank-lines-panx", "panx", "de", "O\n\n", "\n\n", "gold", None,
          "no sentences, only blank lines"),
    evaluate("conll-labels-file-only-blank-lines", "udpos", "de", "test",
             {"udpos/test-de.tsv": UD_TEST, "udpos/labels/test-de.tsv": "\n\n\n"}, "udpos/labels/test-de.tsv", None,
             "no sentences, only blank lines"),
    score("score-ranking-labels-blanked", "mewslix", "en", '{"m1": ["Q1"]}', '{"m1": [""]}', "gold", 1,
          "query 'm1' has no gold id"),
    score("score-ranking-labels-empty-list", "lareqa", "en", '{"q1": ["en_1_0"]}', '{"q1": []}', "gold", 1,
          "query 'q1' has no gold id"),
    # --- a repeated JSON key: the last one would win silently -----------------------------------------
    score("score-qa-prediction-duplicate-id", "xquad", "de", QA_DUP_PRED, GOLD_QA, "pred", 4,
          "duplicate question id 'q1'"),
    score("score-qa-labels-duplicate-key", "mlqa", "de", '{"q1": "Frankreich"}', DUP_KEY_QA, "gold",
          line_of(DUP_KEY_QA, '"answers"', 2), "duplicate key 'answers'"),
    evaluate("json-duplicate-key", "xquad", "de", "test", {XQUAD: DUP_KEY_QA}, XQUAD,
             line_of(DUP_KEY_QA, '"answers"', 2), "duplicate key 'answers'"),
    score("score-ranking-prediction-duplicate-id", "mewslix", "en", '{"m1": ["Q1"],\n "m1": ["Q2"]}', '{"m1": ["Q1"]}',
          "pred", 2, "duplicate query id 'm1'"),
    evaluate("mewslix-labels-duplicate-id", "mewslix", "en", "test",
             {**MEWSLIX, MEWSLIX_LABELS: '{"m1": ["Q1"],\n "m1": ["Q2"]}'}, MEWSLIX_LABELS, 2,
             "duplicate query id 'm1'"),
    score("score-xcopa-duplicate-key", "xcopa", "et", '{"label": 1}\n{"label": 1, "label": 0}\n',
          '{"label": 1}\n{"label": 0}\n', "pred", 2, "duplicate key 'label'"),
    evaluate("xcopa-duplicate-idx", "xcopa", "et", "test", {"xcopa/test-et.jsonl": XCOPA.replace('"label": 1',
                                                                                               '"label": 1, "idx": 0')
                                                              .replace('"label": 0', '"label": 0, "idx": 0')},
             "xcopa/test-et.jsonl", 2, "idx 0 appears twice"),
    # --- digits other than ASCII 0-9: int() and str.isdigit() take them --------------------------------
    score("score-indices-fullwidth-digit", "tatoeba", "de", "1\n\uff10\n", "1\n0\n", "pred", 2,
          "'\uff10' is not a 0-based line index; expected one non-negative integer per line"),
    score("score-indices-superscript-digit", "tatoeba", "de", "1\n0\n", "\u00b2\n0\n", "gold", 1,
          "is not a 0-based line index"),
    score("score-indices-arabic-indic-digit", "tatoeba", "de", "\u0661\n0\n", "1\n0\n", "pred", 1,
          "(ASCII digits, no leading zeros)"),
    score("score-indices-leading-zero", "tatoeba", "de", "1\n00\n", "1\n0\n", "pred", 2, "no leading zeros"),
    evaluate("tatoeba-labels-fullwidth-digit", "tatoeba", "de", "test",
             {**TATOEBA, "tatoeba/labels/test-de.tsv": "1\n\uff10\n"}, "tatoeba/labels/test-de.tsv", 2,
             "is not a 0-based line index"),
    evaluate("tatoeba-labels-superscript-digit", "tatoeba", "de", "test",
             {**TATOEBA, "tatoeba/labels/test-de.tsv": "\u00b2\n0\n"}, "tatoeba/labels/test-de.tsv", 1,
             "is not a 0-based line index"),
    score("score-pairs-fullwidth-digit", "bucc2018", "de", "de-\uff11\ten-2\n", "de-1\ten-2\n", "pred", 1,
          "holds a non-ASCII digit"),
    evaluate("bucc-gold-arabic-indic-digit", "bucc2018", "de", "test",
             {**BUCC, "bucc2018/de-en.test.gold": "de-1\ten-2\nde-\u0662\ten-1\n"}, "bucc2018/de-en.test.gold", 2,
             "holds a non-ASCII digit"),
    evaluate("bucc-corpus-fullwidth-digit", "bucc2018", "de", "test",
             {**BUCC, "bucc2018/de-en.test.de": BUCC_DE.replace("de-2", "de-\uff12")}, "bucc2018/de-en.test.de", 2,
             "holds a non-ASCII digit"),
    score("score-xcopa-label-arabic-indic-digit", "xcopa", "et", '{"label": \u0661}\n', '{"label": 1}\n', "pred", 1,
          "malformed JSON line"),
    score("score-xcopa-label-fullwidth-string", "xcopa", "et", '{"label": "\uff11"}\n', '{"label": 1}\n', "pred", 1,
          "is not an integer"),
    evaluate("xcopa-labels-file-fullwidth-string", "xcopa", "et", "test",
             {"xcopa/test-et.jsonl": XCOPA_TEST, "xcopa/labels/test-et.jsonl": '{"label": 0}\n{"label": "\uff11"}\n'},
             "xcopa/labels/test-et.jsonl", 2, "is not an integer"),
    score("score-ranking-fullwidth-digit", "mewslix", "en", '{"m1": ["Q\uff11"]}', '{"m1": ["Q1"]}', "pred", 1,
          "holds a non-ASCII digit"),
    # --- numbers too long for int() ---------------------------------------------------------------------------
    score("score-indices-too-many-digits", "tatoeba", "de", "1\n" + "9" * 5000 + "\n", "1\n0\n", "pred", 2,
          "is not a 0-based line index"),
    evaluate("tatoeba-labels-too-many-digits", "tatoeba", "de", "test",
             {**TATOEBA, "tatoeba/labels/test-de.tsv": "1\n" + "9" * 5000 + "\n"}, "tatoeba/labels/test-de.tsv", 2,
             "is not a 0-based line index"),
    score("score-qa-answer-number-too-long", "xquad", "de", '{\n "q1": ' + "9" * 5000 + "\n}", GOLD_QA, "pred", 2,
          "a number of 5000 digits cannot be read"),
    score("score-xcopa-label-number-too-long", "xcopa", "et", '{"label": ' + "1" * 5000 + "}\n", '{"label": 1}\n',
          "pred", 1, "holds a number too long to be read"),
    # --- nesting too deep for json, or for the reader ------------------------------------------------------
    score("score-qa-prediction-deeply-nested", "xquad", "de", DEEP, GOLD_QA, "pred", None, "nested too deeply"),
    score("score-qa-labels-deeply-nested", "tydiqa", "en", "{}", DEEP, "gold", None, "nested too deeply"),
    score("score-ranking-prediction-deeply-nested", "mewslix", "en", '{"m1": ' + DEEP + "}", '{"m1": ["Q1"]}', "pred",
          None, "nested too deeply"),
    score("score-xcopa-line-deeply-nested", "xcopa", "et", '{"label": ' + DEEP + "}\n", '{"label": 1}\n', "pred", 1,
          "nested too deeply"),
    evaluate("json-deeply-nested", "xquad", "de", "test", {XQUAD: DEEP}, XQUAD, None, "nested too deeply"),
    evaluate("lareqa-deeply-nested", "lareqa", "en", "test", {LAREQA: DEEP}, LAREQA, None, "nested too deeply"),
    evaluate("mewslix-mentions-deeply-nested", "mewslix", "en", "test", {**MEWSLIX, MEWSLIX_MENTIONS: DEEP + "\n"},
             MEWSLIX_MENTIONS, 1, "nested too deeply"),
    # --- SQuAD JSON: every structural type, in the scorer's labels and in xtreme-eval's data ------------------
    score("score-qa-labels-answers-a-number", "xquad", "de", "{}", ANSWERS_NUMBER, "gold",
          line_of(ANSWERS_NUMBER, '"answers"'), "has no gold 'answers' ('answers' is a number)"),
    score("score-qa-labels-answers-a-string", "mlqa", "de", "{}", ANSWERS_STRING, "gold",
          line_of(ANSWERS_STRING, '"answers"'), "('answers' is a string)"),
    score("score-qa-labels-answers-not-objects", "tydiqa", "en", "{}", ANSWERS_NOT_OBJECTS, "gold",
          line_of(ANSWERS_NOT_OBJECTS, '"q1"'), "an answer of question 'q1' lacks its 'text'"),
    score("score-qa-labels-qas-a-number", "xquad", "de", "{}", QAS_NUMBER, "gold", line_of(QAS_NUMBER, '"qas"'),
          "lacks 'context' or 'qas' ('qas' is a number)"),
    score("score-qa-labels-paragraphs-an-object", "xquad", "de", "{}", PARAGRAPHS_OBJECT, "gold",
          line_of(PARAGRAPHS_OBJECT, '"paragraphs"'), "lacks its 'paragraphs' list ('paragraphs' is an object)"),
    score("score-qa-labels-data-a-string", "mlqa", "de", "{}", DATA_STRING, "gold", 1, "('data' is a string)"),
    score("score-qa-labels-id-a-number", "xquad", "de", "{}", ID_NUMBER, "gold", line_of(ID_NUMBER, '"id": 5'),
          "question id 5 must be a non-empty string"),
    score("score-qa-labels-answer-start-a-bool", "xquad", "de", "{}", START_BOOL, "gold", line_of(START_BOOL, '"q1"'),
          "an integer 'answer_start'"),
    evaluate("json-answers-a-number", "xquad", "de", "test", {XQUAD: ANSWERS_NUMBER}, XQUAD,
             line_of(ANSWERS_NUMBER, '"answers"'), "the 'answers' of question 'q1' are a number; expected a list"),
    evaluate("json-answers-a-string", "mlqa", "de", "test", {MLQA: ANSWERS_STRING}, MLQA,
             line_of(ANSWERS_STRING, '"answers"'), "are a string; expected a list"),
    evaluate("json-answers-not-objects", "tydiqa", "en", "test", {TYDIQA: ANSWERS_NOT_OBJECTS}, TYDIQA,
             line_of(ANSWERS_NOT_OBJECTS, '"q1"'), "lacks 'text' or an integer 'answer_start'"),
    evaluate("json-qas-a-number", "xquad", "de", "test", {XQUAD: QAS_NUMBER}, XQUAD, line_of(QAS_NUMBER, '"qas"'),
             "('qas' is a number)"),
    evaluate("json-context-a-number", "xquad", "de", "test", {XQUAD: CONTEXT_NUMBER}, XQUAD,
             line_of(CONTEXT_NUMBER, '"context"'), "('context' is a number)"),
    evaluate("json-paragraphs-an-object", "mlqa", "de", "test", {MLQA: PARAGRAPHS_OBJECT}, MLQA,
             line_of(PARAGRAPHS_OBJECT, '"paragraphs"'), "('paragraphs' is an object)"),
    evaluate("json-article-a-number", "xquad", "de", "test", {XQUAD: ARTICLE_NUMBER}, XQUAD,
             line_of(ARTICLE_NUMBER, "5"), "article 1 is a number"),
    evaluate("json-data-a-string", "tydiqa", "en", "test", {TYDIQA: DATA_STRING}, TYDIQA, 1, "('data' is a string)"),
    evaluate("json-question-id-a-number", "xquad", "de", "test", {XQUAD: ID_NUMBER}, XQUAD,
             line_of(ID_NUMBER, '"id": 5'), "question id 5 must be a non-empty string"),
    # --- prediction values of the wrong JSON type ------------------------------------------------------------
    score("score-qa-answer-null", "xquad", "de", '{\n "q1": null\n}', GOLD_QA, "pred", 2, "must be a string, got null"),
    score("score-qa-answer-a-list", "mlqa", "de", '{\n "q1": ["Frankreich"]\n}', GOLD_QA, "pred", 2, "got a list"),
    score("score-qa-prediction-a-string", "xquad", "de", '"Frankreich"', GOLD_QA, "pred", 1,
          "found a string; expected a JSON object"),
    score("score-ranking-ids-not-strings", "mewslix", "en", '{"m1": [1, 2]}', '{"m1": ["Q1"]}', "pred", 1,
          "must be a list of candidate id strings"),
    score("score-ranking-unknown-query", "mewslix", "en", '{"m1": ["Q1"],\n "m9": ["Q1"]}', '{"m1": ["Q1"]}', "pred",
          2, "query id 'm9' is not in the labels file"),
    score("score-xcopa-label-a-bool", "xcopa", "et", '{"label": true}\n', '{"label": 1}\n', "pred", 1,
          "label true is not an integer"),
    score("score-xcopa-label-a-float", "xcopa", "et", '{"label": 1.0}\n', '{"label": 1}\n', "pred", 1,
          "label 1.0 is not an integer"),
    score("score-xcopa-label-out-of-range", "xcopa", "et", '{"label": 1}\n', '{"label": 2}\n', "gold", 1,
          "label 2 must be the integer 0 or 1"),
    score("score-xcopa-line-not-an-object", "xcopa", "et", '[1]\n', '{"label": 1}\n', "pred", 1,
          "found a list; expected one JSON object"),
    # --- XQuAD-R and Mewsli-X structures ------------------------------------------------------------------
    evaluate("lareqa-paragraphs-a-number", "lareqa", "en", "test", {LAREQA: _doc({"data": [{"paragraphs": 5}]})},
             LAREQA, 3, "article 1 is not an object with a 'paragraphs' list"),
    evaluate("lareqa-question-not-an-object", "lareqa", "en", "test", {LAREQA: _lareqa(dict(LAREQA_PARA, qas=[5]))},
             LAREQA, line_of(_lareqa(dict(LAREQA_PARA, qas=[5])), "5\n"), "a question lacks a string 'id'"),
    evaluate("lareqa-answers-a-number", "lareqa", "en", "test", {LAREQA: _lareqa(dict(LAREQA_PARA,
                                                                                     qas=[dict(Q1, answers=5)]))},
             LAREQA, line_of(_lareqa(dict(LAREQA_PARA, qas=[dict(Q1, answers=5)])), '"q1"'),
             "must have exactly one answer with an integer 'answer_start'"),
    evaluate("lareqa-sentence-break-outside-context", "lareqa", "en", "test",
             {LAREQA: _lareqa(dict(LAREQA_PARA, sentence_breaks=[[0, 999]]))}, LAREQA,
             line_of(_lareqa(dict(LAREQA_PARA, sentence_breaks=[[0, 999]])), "[\n       0"),
             "lies outside its context"),
    evaluate("mewslix-sentence-spans-not-objects", "mewslix", "en", "test",
             {**MEWSLIX, MEWSLIX_MENTIONS: json.dumps({"context": {"text": CTX, "sentence_spans": [5]}, "mentions": [
                 {"example_id": "m1", "mention_span": {"start": 0, "end": 5, "text": "Paris"}}]}) + "\n"},
             MEWSLIX_MENTIONS, 1,
             "expected {start, end} integers"),
    evaluate("mewslix-mentions-a-number", "mewslix", "en", "test",
             {**MEWSLIX, MEWSLIX_MENTIONS: json.dumps({"context": {"text": CTX}, "mentions": 5}) + "\n"},
             MEWSLIX_MENTIONS, 1, "'mentions' are a number"),
    evaluate("mewslix-entity-description-a-number", "mewslix", "en", "test",
             {**MEWSLIX, "mewslix/candidate_set_entities.jsonl": MEWSLIX_ENTITY.replace('"Paris is a city."', "5")},
             "mewslix/candidate_set_entities.jsonl", 1, "'description' is a number"),
    # --- input too large to quote or to split ---------------------------------------------------------------
    score("score-label-line-huge", "xnli", "de", HUGE + "\n", "neutral\n", "pred", 1, "characters]"),
    score("score-tags-line-of-many-tabs", "panx", "de", "O" + TABS + "O\n\n", "O\n\n", "pred", 1,
          "expected one tag per line"),
    score("score-pairs-line-of-many-tabs", "bucc2018", "de", "de-1" + TABS + "en-2\n", "de-1\ten-2\n", "pred", 1,
          "expected '<xx-id><TAB><en-id>'"),
    evaluate("tsv-line-of-many-tabs", "xnli", "de", "dev", {"xnli/dev-de.tsv": XNLI + "a" + TABS + "b\n"},
             "xnli/dev-de.tsv", 3, "found 1000001"),
    evaluate("conll-line-of-many-tabs", "udpos", "de", "dev", {"udpos/dev-de.tsv": UD + "a" + TABS + "b\n"},
             "udpos/dev-de.tsv", 7, "found 1000001 columns"),
    evaluate("tsv-file-over-the-size-cap", "xnli", "de", "dev", {"xnli/dev-de.tsv": XNLI * 20_000},
             "xnli/dev-de.tsv", None, "more than the 1 MB an input may have",
             env={"XTREME_HARNESS_MAX_INPUT_MB": "1"}),
    # --- a name that holds no regular file is refused by name, never skipped ----------------------------------
    Case("score-prediction-is-a-folder", "score",
         {"pred/xnli/test-de.tsv/x": "neutral\n", "gold/xnli/test-de.tsv": "neutral\n"},
         ["--predictions", "{tmp}/pred", "--labels", "{tmp}/gold"], "pred/xnli/test-de.tsv", None,
         "expected a prediction file, found a directory"),
    evaluate("tsv-labels-file-is-a-folder", "xnli", "de", "test",
             {"xnli/test-de.tsv": XNLI_TEST, "xnli/labels/test-de.tsv/x": "neutral\n"}, "xnli/labels/test-de.tsv",
             None, "expected a labels file, found a directory"),
]
