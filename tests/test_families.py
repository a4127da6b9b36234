"""Task families on real tokenizers: exact QA answer spans, one tag per word, labels by name.

Three tokenizer kinds: the real XLM-R sentencepiece tokenizer (of multilingual-e5-small,
built offline by ../shared/tools/build-me5-small), and two WordPiece tokenizers trained here
in the manner of BERT (lowercased) and mBERT (cased, CJK characters split).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, me5_small
from xtreme_harness.formats.examples import Answer, PairExample, QAExample, TaggingExample
from xtreme_harness.families import FAMILIES, FeatureList, classification, qa, tagging
from xtreme_harness.metrics.qa import squad_em_f1, squad_example


# (lang, sentence holding the answer, question, answer, neutral filler sentence)
QA_CASES = [
    ("en", "The capital of Atlantis is Poseidonia, a city of bridges.", "What is the capital of Atlantis?",
     "Poseidonia", "This is a filler sentence about nothing in particular. "),
    ("zh", "北京是中华人民共和国的首都，也是全国的政治和文化中心。", "中国的首都是哪里？", "北京",
     "这是一个没有任何意义的填充句子。"),
    ("zh", "长城位于中国北方，全长约两万一千公里。", "长城有多长？", "两万一千公里",
     "这是一个没有任何意义的填充句子。"),
    ("ja", "東京は日本の首都であり、世界有数の大都市である。", "日本の首都はどこですか？", "東京",
     "これは特に意味のない埋め草の文です。"),
    ("th", "กรุงเทพมหานคร เป็นเมืองหลวงของประเทศไทย และเป็นเมืองที่ใหญ่ที่สุด", "เมืองหลวงของประเทศไทยคืออะไร",
     "กรุงเทพมหานคร", "นี่คือประโยคเติมที่ไม่มีความหมาย "),
    ("ar", "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها.", "ما هي عاصمة مصر؟", "القاهرة",
     "هذه جملة حشو لا تعني أي شيء. "),
    ("ar", "يبلغ عدد سكان المدينة حوالي عشرين مليون نسمة.", "كم عدد سكان المدينة؟", "عشرين مليون",
     "هذه جملة حشو لا تعني أي شيء. "),
]
TAG_WORDS = "The quick brown fox jumps over the lazy dog near 北京 and القاهرة and กรุงเทพ today".split()


def _corpus() -> list[str]:
    out = []
    for _, sentence, question, _, filler in QA_CASES:
        out += [sentence, question, filler]
    return out + [" ".join(TAG_WORDS), "A man is eating. Someone eats food. Nobody is here."]


def _wordpiece(lowercase: bool):
    """A small BERT-style (lowercase) or mBERT-style (cased) WordPiece tokenizer trained offline."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None if lowercase else False, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=1200, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]",
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def _xlmr():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(me5_small()))


_CACHE: dict = {}


@pytest.fixture(scope="module", params=["xlmr", "bert", "mbert"])
def tok(request):
    if request.param not in _CACHE:
        _CACHE[request.param] = _xlmr() if request.param == "xlmr" else _wordpiece(request.param == "bert")
    return _CACHE[request.param]


@pytest.fixture(scope="module")
def xlmr():
    if "xlmr" not in _CACHE:
        _CACHE["xlmr"] = _xlmr()
    return _CACHE["xlmr"]


# --- QA -------------------------------------------------------------------------------

def _gold_logits(features, example: QAExample, value: float = 10.0):
    """Logits a perfect model would give: high at the tokens holding the gold answer's first and last char."""
    ans = example.answers[0]
    a, b = ans.start, ans.start + len(ans.text)
    starts, ends = [], []
    for f in features:
        sl, el = np.zeros(len(f["input_ids"])), np.zeros(len(f["input_ids"]))
        for p, o in enumerate(f["offset_mapping"]):
            if o is not None and o[0] <= a < o[1] and not sl.any():
                sl[p] = value  # the first token holding the first char
            if o is not None and o[0] < b <= o[1]:
                el[:] = 0
                el[p] = value  # the last token holding the last char
        starts.append(sl)
        ends.append(el)
    return starts, ends


def _run_qa(tokenizer, examples, **decode_kw):
    feats = qa.featurize(examples, tokenizer)
    starts, ends = [], []
    for i, ex in enumerate(examples):
        fs = [f for f in feats if f["example_index"] == i]
        s, e = _gold_logits(fs, ex)
        starts += s
        ends += e
    # features come grouped by example, in order
    assert [f["example_index"] for f in feats] == sorted(f["example_index"] for f in feats)
    answers, nbest = qa.decode(examples, feats, starts, ends, **decode_kw)
    return feats, answers, nbest


def _filler(tokenizer, filler: str, min_tokens: int) -> str:
    """The filler repeated until it is at least ``min_tokens`` sub-tokens long."""
    per = len(tokenizer(filler, add_special_tokens=False)["input_ids"])
    return filler * (min_tokens // max(per - 1, 1) + 1)


def _example(i, sentence, question, answer, before="", after=""):
    context = before + sentence + after
    start = len(before) + sentence.index(answer)
    return QAExample(id=f"q{i}", question=question, context=context, answers=[Answer(answer, start)])


@pytest.mark.parametrize("long", [False, True], ids=["short", "long"])
def test_qa_gold_logits_give_exact_answers(tok, long):
    examples = []
    for i, (lang, sentence, question, answer, filler) in enumerate(QA_CASES):
        if long:  # the answer sits past the first window; more text follows it
            examples.append(_example(i, sentence, question, answer, before=_filler(tok, filler, 500),
                                         after=_filler(tok, filler, 150)))
        else:
            examples.append(_example(i, sentence, question, answer))
    feats, answers, nbest = _run_qa(tok, examples)
    for ex in examples:
        assert answers[ex.id] == ex.answers[0].text, (ex.id, tok.convert_ids_to_tokens(
            tok(ex.answers[0].text, add_special_tokens=False)["input_ids"]))
        best = nbest[ex.id][0]
        assert ex.context[best["start"]:best["end"]] == best["text"] == answers[ex.id]
        assert abs(sum(c["probability"] for c in nbest[ex.id]) - 1) < 1e-6
    if long:
        assert feats.stats["windowed"] == len(examples)
        for i, ex in enumerate(examples):
            fs = [f for f in feats if f["example_index"] == i]
            holding = [f["window"] for f in fs if any(
                o is not None and o[0] <= ex.answers[0].start < o[1] for o in f["offset_mapping"])]
            assert holding and min(holding) >= 1
    assert all(len(f["input_ids"]) <= 384 for f in feats)


def test_qa_windows_step_by_doc_stride(tok):
    _, sentence, question, answer, filler = QA_CASES[0]
    ex = _example(0, sentence, question, answer, before=_filler(tok, filler, 900))
    feats = qa.featurize([ex], tok, max_length=384, doc_stride=128)
    starts = [f["context_start"] for f in feats]
    assert starts == [128 * k for k in range(len(feats))]  # XTREME: windows start doc_stride apart
    full = tok(ex.context, add_special_tokens=False)["input_ids"]
    for f in feats:
        ctx = [t for t, o in zip(f["input_ids"], f["offset_mapping"]) if o is not None]
        assert ctx == full[f["context_start"]:f["context_start"] + f["context_length"]]
    assert feats[-1]["context_start"] + feats[-1]["context_length"] == len(full)
    # every context token is the max-context token of exactly one window
    owner = {}
    for f in feats:
        first = next(p for p, o in enumerate(f["offset_mapping"]) if o is not None)
        for j in range(f["context_length"]):
            if f["token_is_max_context"][first + j]:
                assert f["context_start"] + j not in owner
                owner[f["context_start"] + j] = f["window"]
    assert sorted(owner) == list(range(len(full)))


def test_qa_question_truncated_and_specials(tok):
    ex = _example(0, *QA_CASES[0][1:4])
    ex.question = " ".join(["filler"] * 100) + "?"
    feats = qa.featurize([ex], tok, max_query_length=64)
    assert feats.stats["query_truncated"] == 1
    f = feats[0]
    q_positions = [p for p, o in enumerate(f["offset_mapping"]) if o is None]
    assert len(q_positions) <= 64 + tok.num_special_tokens_to_add(pair=True)
    assert f["input_ids"][0] == tok.cls_token_id and f["input_ids"][-1] == tok.sep_token_id
    if "token_type_ids" in tok.model_input_names:
        assert "token_type_ids" in f


def test_qa_train_features_point_at_gold(tok):
    examples = [_example(i, s, q, a, before=_filler(tok, fl, 500)) for i, (_, s, q, a, fl) in enumerate(QA_CASES)]
    examples.append(QAExample(id="none", question="?", context="no answer here", answers=[]))
    feats = qa.train_features(examples, tok)
    assert feats.stats["skipped"] == 1
    for i, ex in enumerate(examples[:-1]):
        fs = [f for f in feats if f["example_index"] == i]
        gold_s, gold_e = _gold_logits(fs, ex)
        inside = 0
        for f, gs, ge in zip(fs, gold_s, gold_e):
            if f["start_positions"] == 0:
                assert f["end_positions"] == 0
                continue
            inside += 1
            assert gs[f["start_positions"]] > 0 and ge[f["end_positions"]] > 0
            a, b = f["offset_mapping"][f["start_positions"]][0], f["offset_mapping"][f["end_positions"]][1]
            assert ex.context[a:b].strip() == ex.answers[0].text
        assert inside >= 1


def test_qa_decode_rules(xlmr):
    ex = _example(0, *QA_CASES[0][1:4])
    feats = qa.featurize([ex], xlmr)
    f = feats[0]
    ctx = [p for p, o in enumerate(f["offset_mapping"]) if o is not None]
    n = len(f["input_ids"])
    # logits pointing at the question only: no valid span at all gives ""
    s, e = np.zeros(n), np.zeros(n)
    s[1], e[1] = 50, 50
    answers, nbest = qa.decode([ex], feats, [np.full(n, -1e9) + s], [np.full(n, -1e9) + e], n_best=1)
    assert answers == {"q0": ""} and nbest == {"q0": []}
    # end before start is never chosen; a span longer than max_answer_length is never chosen
    s, e = np.zeros(n), np.zeros(n)
    s[ctx[5]], e[ctx[2]] = 10, 10
    s[ctx[0]] = 5
    answers, _ = qa.decode([ex], feats, [s], [e], max_answer_length=30)
    a, b = f["offset_mapping"][ctx[0]][0], f["offset_mapping"][ctx[2]][1]
    assert answers["q0"] == ex.context[a:b]
    answers, _ = qa.decode([ex], feats, [s], [e], max_answer_length=2)
    assert len(xlmr(answers["q0"], add_special_tokens=False)["input_ids"]) <= 2
    # padded logits are accepted; random logits always give exact substrings without edge spaces
    rng = np.random.default_rng(0)
    examples = [_example(i, s_, q, a_) for i, (_, s_, q, a_, _) in enumerate(QA_CASES)]
    feats = qa.featurize(examples, xlmr)
    for _ in range(20):
        st = [rng.normal(size=384) for _ in feats]
        en = [rng.normal(size=384) for _ in feats]
        answers, nbest = qa.decode(examples, feats, st, en)
        for ex_ in examples:
            text = answers[ex_.id]
            assert text == text.strip() and text in ex_.context
            for c in nbest[ex_.id]:
                assert ex_.context[c["start"]:c["end"]] == c["text"]


def test_qa_xlmr_leading_metaspace(xlmr):
    """A lone '▁' before CJK text covers no character: it never adds one to an answer."""
    ex = QAExample(id="x", question="首都？", context="北京是首都。", answers=[Answer("北京", 0)])
    f = qa.featurize([ex], xlmr)[0]
    toks = xlmr.convert_ids_to_tokens(f["input_ids"])
    lone = [p for p, (t, o) in enumerate(zip(toks, f["offset_mapping"])) if o is not None and t == "\u2581"]
    assert lone and all(f["offset_mapping"][p][0] == f["offset_mapping"][p][1] for p in lone)
    n = len(toks)
    s, e = np.zeros(n), np.zeros(n)
    s[lone[0]] = e[lone[0]] = 10  # an empty span is never an answer
    s[lone[0] + 1] = e[lone[0] + 1] = 9
    answers, _ = qa.decode([ex], [f], [s], [e])
    assert answers["x"] == "北京"


def _squad_examples(path: Path, limit: int) -> list[QAExample]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            for q in para["qas"]:
                out.append(QAExample(id=q["id"], question=q["question"], context=para["context"],
                                     answers=[Answer(a["text"], a["answer_start"]) for a in q["answers"]]))
                if len(out) == limit:
                    return out
    return out


def _reachable(tokenizer, examples, max_answer_length=30) -> set[str]:
    """Questions that some whole-token span of at most ``max_answer_length`` tokens answers exactly (SQuAD EM)."""
    feats = qa.train_features(examples, tokenizer)
    ok = set()
    for f in feats:
        ex = examples[f["example_index"]]
        s, e = f["start_positions"], f["end_positions"]
        if s and e - s + 1 <= max_answer_length:
            a, b = f["offset_mapping"][s][0], f["offset_mapping"][e][1]
            if squad_example(ex.context[a:b].strip(), [g.text for g in ex.answers])[0]:
                ok.add(ex.id)
    return ok


@pytest.mark.shared
@pytest.mark.parametrize("rel, unreachable", [
    ("xquad/xquad.zh.json", 0),
    # no whole-token span matches: one answer starts inside a sub-token ("عنابة" in "وعنابة"),
    # and two are longer than max_answer_length (30 sub-tokens), which XTREME never predicts either
    ("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.ar.dev.json", 3),
])
def test_qa_real_data_gold_logits_em_100(xlmr, rel, unreachable):
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"{path} is not available")
    examples = _squad_examples(path, 50)
    _, answers, _ = _run_qa(xlmr, examples)
    preds = [answers[ex.id] for ex in examples]
    assert all(p and p in ex.context for p, ex in zip(preds, examples))
    reach = _reachable(xlmr, examples)
    assert len(examples) - len(reach) == unreachable
    kept = [i for i, ex in enumerate(examples) if ex.id in reach]
    scores = squad_em_f1([[a.text for a in examples[i].answers] for i in kept], [preds[i] for i in kept])
    assert scores["exact_match"] == 100.0, [(preds[i], examples[i].answers[0].text) for i in kept
                                             if preds[i] != examples[i].answers[0].text]
    overall = squad_em_f1([[a.text for a in ex.answers] for ex in examples], preds)["exact_match"]
    assert overall == pytest.approx(100.0 * len(reach) / len(examples))
    # without the official length cap only sub-token boundaries stand between the model and the gold
    _, answers, _ = _run_qa(xlmr, examples, max_answer_length=10_000)
    long_ok = _reachable(xlmr, examples, max_answer_length=10_000)
    assert all(squad_example(answers[ex.id], [a.text for a in ex.answers])[0] for ex in examples if ex.id in long_ok)
    assert len(long_ok) >= len(reach)


# --- tagging ----------------------------------------------------------------------------

def _tag_logits(features, num_labels, label_of_word):
    out = []
    for f in features:
        z = np.zeros((len(f["input_ids"]) + 3, num_labels))  # padded beyond the feature
        for p, w in enumerate(f["word_ids"]):
            if w >= 0:
                z[p, label_of_word(f["example_index"], w)] = 1.0
        out.append(z)
    return out


def test_tagging_one_tag_per_word_short(tok):
    labels = ["O", "B-LOC", "I-LOC"]
    examples = [TaggingExample("s0", TAG_WORDS, ["O"] * len(TAG_WORDS)),
                TaggingExample("s1", ["北京", "是", "首都"], ["B-LOC", "O", "O"])]
    feats = tagging.featurize(examples, tok, max_length=128, label2id={t: i for i, t in enumerate(labels)})
    assert len(feats) == 2 and feats.stats["windowed"] == 0
    id2label = dict(enumerate(labels))
    preds = tagging.decode(feats, _tag_logits(feats, 3, lambda e, w: w % 3), examples, id2label)
    assert preds == [[labels[w % 3] for w in range(len(ex.tokens))] for ex in examples]
    f = feats[1]
    assert [f["labels"][p] for p, w in enumerate(f["word_index"]) if w >= 0] == [1, 0, 0]
    assert sum(1 for x in f["labels"] if x != -100) == 3
    if tok.cls_token == "<s>":  # XTREME doubles the separator for XLM-R
        assert f["input_ids"][-2:] == [tok.sep_token_id] * 2
    else:
        assert f["input_ids"][-2] != tok.sep_token_id and f["input_ids"][-1] == tok.sep_token_id


@pytest.mark.parametrize("stride", [0, 8])
def test_tagging_long_sentence_is_windowed_not_truncated(tok, stride):
    words = (TAG_WORDS * 12)[:170]
    ex = TaggingExample("long", words)
    feats = tagging.featurize([ex], tok, max_length=32, stride=stride)
    assert len(feats) > 1 and feats.stats["windowed"] == 1
    assert all(len(f["input_ids"]) <= 32 for f in feats)
    owned = [w for f in feats for w in f["word_index"] if w >= 0]
    assert sorted(owned) == list(range(len(words)))  # every word predicted exactly once
    if stride == 0:  # XTREME's consecutive chunks: no word in two windows
        seen = [w for f in feats for w in set(f["word_ids"]) if w >= 0]
        assert len(seen) == len(set(seen))
    else:
        assert any(set(a["word_ids"]) & set(b["word_ids"]) - {-1} for a, b in zip(feats, feats[1:]))
    labels = ["A", "B", "C", "D", "E"]
    preds = tagging.decode(feats, _tag_logits(feats, 5, lambda e, w: (w * 7) % 5), [ex], dict(enumerate(labels)))
    assert preds == [[labels[(w * 7) % 5] for w in range(len(words))]]


def test_tagging_owner_has_most_context():
    lengths = [1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1]
    spans = tagging.windows(lengths, budget=6, stride=3)
    assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
    owner = tagging.assign(lengths, spans)
    for w, k in enumerate(owner):
        def ctx(span):
            s, e = span
            left = sum(lengths[s:w])
            return min(left, sum(lengths[s:e]) - left - 1)
        holding = [span for span in spans if span[0] <= w < span[1]]
        assert spans[k] in holding and ctx(spans[k]) == max(ctx(sp) for sp in holding)


def test_tagging_empty_subtoken_words(tok):
    words = ["Hello", "", "\u200b", "world", "\u00ad"]
    ex = TaggingExample("e", words, ["O"] * 5)
    feats = tagging.featurize([ex], tok, label2id={"O": 0})
    assert feats.stats["empty_subtoken_words"] >= 1
    f = feats[0]
    owned = {w: p for p, w in enumerate(f["word_index"]) if w >= 0}
    assert sorted(owned) == list(range(5))
    assert f["input_ids"][owned[1]] == tok.unk_token_id  # the empty word stands as the unknown token
    preds = tagging.decode(feats, _tag_logits(feats, 2, lambda e, w: w % 2), [ex], {0: "O", 1: "X"})
    assert preds == [["O", "X", "O", "X", "O"]]


def test_tagging_decode_label_map_and_errors(xlmr):
    ex = TaggingExample("m", ["Paris", "is", "nice"])
    feats = tagging.featurize([ex], xlmr)
    logits = [np.tile([0.0, 5.0, 1.0], (len(feats[0]["input_ids"]), 1))]
    # the model's best label (index 1) maps to no task tag, so the best mapped one wins
    preds = tagging.decode(feats, logits, [ex], {0: "B-LOC", 2: "B-PER"})
    assert preds == [["B-PER"] * 3]
    with pytest.raises(ValueError):
        tagging.decode(feats, logits, [TaggingExample("x", ["a", "b", "c", "d"])], {0: "A", 1: "B", 2: "C"})
    assert tagging.featurize([TaggingExample("empty", [])], xlmr) == []


# --- classification ---------------------------------------------------------------------

def test_classification_featurize(tok):
    examples = [PairExample("0", "A man is eating.", "Someone eats food.", "entailment"),
                PairExample("1", "A man is eating. " * 40, "Nobody is here. " * 40, "contradiction")]
    feats = classification.featurize(examples, tok, max_length=64,
                                     label2id={"entailment": 0, "neutral": 1, "contradiction": 2})
    assert isinstance(feats, FeatureList) and feats.stats["truncated"] == 1
    assert [f["truncated"] for f in feats] == [False, True]
    assert len(feats[1]["input_ids"]) == 64 and [f["labels"] for f in feats] == [0, 2]
    assert ("token_type_ids" in feats[0]) == ("token_type_ids" in tok.model_input_names)
    # longest_first: both sentences keep a share
    if "token_type_ids" in feats[1]:
        assert 0 < sum(feats[1]["token_type_ids"]) < 64


def test_classification_decode_maps_ids_to_task_labels():
    logits = np.array([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert classification.decode(logits, {0: "entailment", 1: "neutral", 2: "contradiction"}) == \
        ["neutral", "entailment", "contradiction"]
    # a model label the map leaves out is never predicted
    assert classification.decode(logits, {0: "1", 2: "0"}) == ["0", "1", "0"]
    with pytest.raises(ValueError, match="3 columns"):
        classification.decode(logits, {0: "a", 5: "b"})


def test_registry():
    from xtreme_harness.families import Family, head_family

    assert set(FAMILIES) == {"classification", "tagging", "qa", "multiple_choice", "nearest_neighbour", "bitext_mining",
                             "ranking"}
    for name, fam in FAMILIES.items():
        assert isinstance(fam, Family) and fam.name == name and fam.formats and fam.submissions
    assert head_family(["XLMRobertaForTokenClassification"]) == "tagging"
    assert head_family(["BertForMultipleChoice"]) == "multiple_choice" and head_family(["BertModel"]) is None
