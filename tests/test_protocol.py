"""XTREME's protocol by default where it differs from the saner choice: QA n-best over padded positions,
tagging sentences cut into consecutive chunks; the other choices are options, recorded and shown."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from conftest import SHARED_DATA
from tiny import NER, build_tokenizer
from xtreme_harness.formats.examples import Answer, QAExample, TaggingExample
from xtreme_harness.producers.engine import InferenceEngine
from xtreme_harness.families import FAMILIES
from xtreme_harness.tasks.registry import registry


class RuleQA(torch.nn.Module):
    """A QA head whose logits are set by rule: earlier real tokens score higher; padding scores ``pad_score``."""

    def __init__(self, pad_id: int, pad_score: float):
        super().__init__()
        self.config = SimpleNamespace(pad_token_id=pad_id)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.pad_id, self.pad_score = pad_id, pad_score

    def forward(self, input_ids, attention_mask=None, **_):
        pos = torch.arange(input_ids.shape[1], dtype=torch.float32).expand(input_ids.shape)
        logits = torch.where(input_ids == self.pad_id, torch.full_like(pos, self.pad_score), -0.01 * pos)
        return {"start_logits": logits + self.weight, "end_logits": logits + self.weight}


class RuleTagger(torch.nn.Module):
    """A tagging head whose tag is set by the position in the window: position p gets label p mod 3."""

    def __init__(self, pad_id: int, num_labels: int):
        super().__init__()
        self.config = SimpleNamespace(pad_token_id=pad_id)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.n = num_labels

    def forward(self, input_ids, attention_mask=None, **_):
        pos = torch.arange(input_ids.shape[1]).expand(input_ids.shape)
        logits = torch.nn.functional.one_hot(pos % 3, self.n).float() + self.weight
        return {"logits": logits}


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def _engine():
    return InferenceEngine(device="cpu", batch_size=4, progress=False)


def _head(model, tok, labels=None):
    """A model as the families run it (a producer's Head)."""
    from xtreme_harness.producers.native import TransformersHead

    return TransformersHead(model, tok, _engine(), labels)


QUESTIONS = [QAExample(id=f"q{i}", question="Where did the cat sit ?", context=ctx,
                       answers=[Answer(text=ctx.split()[0], start=0)])
             for i, ctx in enumerate(["The cat sat on the mat in Paris .", "Die Katze saß auf der Matte ."])]


@pytest.mark.parametrize("mode", ["padded", "real-tokens"])
def test_qa_nbest_where_padding_wins(tok, mode):
    """Padding outscores every real token: XTREME's top-20 over the padded 384 positions holds no span at all, so
    it answers "empty"; over real tokens only, the best span is the first context word."""
    spec = registry()["xquad"]
    fam = FAMILIES["qa"]
    settings = fam.settings(spec, {"nbest_over": mode})
    pred = fam.predict(spec, QUESTIONS, settings, _head(RuleQA(tok.pad_token_id, 5.0), tok), lang="en")
    if mode == "padded":
        assert pred.output == {"q0": "empty", "q1": "empty"} and pred.stats["empty_answers"] == 2
    else:
        assert pred.output == {"q0": "The", "q1": "Die"} and pred.stats["empty_answers"] == 0


def test_qa_nbest_padded_equals_real_tokens_when_padding_loses(tok):
    spec = registry()["xquad"]
    fam = FAMILIES["qa"]
    model = RuleQA(tok.pad_token_id, -5.0)
    out = {mode: fam.predict(spec, QUESTIONS, fam.settings(spec, {"nbest_over": mode}), _head(model, tok),
                             lang="en").output for mode in ("padded", "real-tokens")}
    assert out["padded"] == out["real-tokens"] == {"q0": "The", "q1": "Die"}


def test_qa_engine_pads_to_max_length_and_keeps_padded_logits(tok):
    from xtreme_harness.families.qa import featurize

    feats = featurize(QUESTIONS, tok, max_length=64)
    engine = _engine()
    outs = engine.run(RuleQA(tok.pad_token_id, 5.0), feats,
                      lambda m, b: {"start_logits": m(**b)["start_logits"]}, token_keys=["start_logits"], pad_to=64)
    assert all(o["start_logits"].shape == (64,) for o in outs)
    assert all((o["start_logits"][len(f["input_ids"]):] == 5.0).all() for o, f in zip(outs, feats))


def xtreme_chunks(tokenizer, words: list[str], max_length: int) -> list[list[int]]:
    """Word indices per chunk, as XTREME's utils_preprocess.py cuts a sentence (panx/udpos_tokenize_preprocess)."""
    special = 3 if tokenizer.cls_token == "<s>" else 2
    budget = max_length - special
    chunks, counter = [[]], 0
    for w, word in enumerate(words):
        n = len(tokenizer.tokenize(word))
        if (n == 0 or n > budget) and word:
            n = 1  # the word becomes the unknown token
        if counter + n > budget:
            chunks.append([w])
            counter = n
        else:
            chunks[-1].append(w)
            counter += n
    return chunks


def _expected_by_position(tokenizer, words, max_length, labels):
    """What RuleTagger predicts when each chunk is its own feature: the tag of the word's first position."""
    out = [None] * len(words)
    for chunk in xtreme_chunks(tokenizer, words, max_length):
        pos = 1  # after [CLS] / <s>
        for w in chunk:
            out[w] = labels[pos % 3]
            pos += max(1, len(tokenizer.tokenize(words[w])))
    return out


def test_long_sentence_is_cut_into_xtremes_chunks(tok):
    spec = registry()["panx"]
    fam = FAMILIES["tagging"]
    words = ("The cat sat on the mat in Paris . " * 6).split()
    sentence = [TaggingExample(id="long", tokens=words, tags=["O"] * len(words)),
                TaggingExample(id="short", tokens=words[:5], tags=["O"] * 5)]
    labels = {i: t for i, t in enumerate(NER)}
    model = RuleTagger(tok.pad_token_id, len(NER))
    out = {mode: fam.predict(spec, sentence, fam.settings(spec, {"max_length": 16, "windows": mode}),
                             _head(model, tok, labels), lang="en") for mode in ("chunks", "overlap")}
    assert out["chunks"].output[0] == _expected_by_position(tok, words, 16, NER)
    assert len(xtreme_chunks(tok, words, 16)) == out["chunks"].stats["features"] - 1  # + the short sentence
    assert out["overlap"].output[0] != out["chunks"].output[0]
    assert out["overlap"].output[1] == out["chunks"].output[1]  # a sentence that fits is one window either way


def test_options_are_validated_recorded_and_shown(tmp_path, tok):
    from xtreme_harness.io.errors import UserError
    from xtreme_harness.options import EvalOptions
    from xtreme_harness.leaderboard.entries import load_results

    with pytest.raises(UserError, match="--qa-nbest must be padded or real-tokens, not 'all'"):
        EvalOptions.build(dict(model="m", data_dir=str(tmp_path), qa_nbest="all")).validate()
    with pytest.raises(UserError, match="--tagging-windows must be chunks or overlap"):
        EvalOptions.build(dict(model="m", data_dir=str(tmp_path), tagging_windows="sliding")).validate()
    doc = {"schema": "xtreme-harness/results/v1", "version": "xtreme", "model": {"name": "m"},
           "config": {"qa_nbest": "real-tokens", "tagging_windows": "chunks"},
           "tasks": {"xnli": {"accuracy": {"en": 50.0}, "avg_accuracy": 50.0, "avg_metric": 50.0, "split": "test"}},
           "coverage": {}, "overall": {}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    entry = load_results(str(path))
    assert entry.notes == ["not XTREME's protocol: QA n-best over real tokens only (--qa-nbest real-tokens), "
                           "not over XTREME's padded positions"]


def test_eval_records_the_options_and_resumes_per_option(tmp_path, capsys):
    from tiny import build_suite
    from xtreme_harness.demo_data import write_demo_data
    from xtreme_harness.run import evaluate

    data = write_demo_data(tmp_path / "data", ["en"], seed=0, size="tiny")
    suite = build_suite(tmp_path / "suite", ["xquad", "panx"])
    kw = dict(tasks="xquad,panx", languages="en", data_dir=str(data), output=str(tmp_path / "out"), device="cpu",
              progress=False)
    official = evaluate(str(suite), **kw)
    assert official["config"]["qa_nbest"] == "padded" and official["config"]["tagging_windows"] == "chunks"
    assert "empty_answers" in official["tasks"]["xquad"]["stats"]["en"]
    evaluate(str(suite), **kw)
    assert "xquad/en: reusing finished result" in capsys.readouterr().err
    other = evaluate(str(suite), qa_nbest="real-tokens", tagging_windows="overlap", overwrite=True, **kw)
    assert other["config"]["qa_nbest"] == "real-tokens" and other["config"]["tagging_windows"] == "overlap"
    err = capsys.readouterr().err  # another protocol option is another computation, never a reused state
    assert "reusing" not in err and "xquad/en: exact_match" in err and "panx/en: f1" in err


@pytest.mark.shared
@pytest.mark.slow
def test_panx_zh_long_sentences_chunks_versus_windows(me5):
    """Real data: PAN-X zh dev sentences longer than 128 sub-tokens under the real XLM-R tokenizer."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from xtreme_harness.tasks.data import read_split

    spec = registry()["panx"]
    examples = read_split(spec, SHARED_DATA, "zh", "dev", 300)
    tok = AutoTokenizer.from_pretrained(str(me5))
    long = [ex for ex in examples if len(xtreme_chunks(tok, ex.tokens, 128)) > 1]
    short = [ex for ex in examples if len(xtreme_chunks(tok, ex.tokens, 128)) == 1][:20]
    assert len(long) >= 5
    from xtreme_harness.families.tagging import featurize

    feats = featurize(long, tok, max_length=128, stride=0)
    for i, ex in enumerate(long):  # the chunks are XTREME's, word for word
        spans = [sorted({w for w in f["word_ids"] if w >= 0}) for f in feats if f["example_index"] == i]
        assert spans == xtreme_chunks(tok, ex.tokens, 128), ex.id
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(str(me5), num_labels=len(NER))
    labels = {i: t for i, t in enumerate(NER)}
    fam = FAMILIES["tagging"]
    run = {mode: fam.predict(spec, long + short, fam.settings(spec, {"windows": mode}), _head(model, tok, labels),
                             lang="zh").output for mode in ("chunks", "overlap")}
    n = len(long)
    assert run["chunks"][n:] == run["overlap"][n:]  # sentences that fit: identical
    assert any(a != b for a, b in zip(run["chunks"][:n], run["overlap"][:n]))


# --- QA answer text: XTREME's projection of the span onto whitespace words --------------------------

def test_basic_tokens_are_berts_basic_tokenizer():
    legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")
    from xtreme_harness.families.qa_text import basic_tokens

    texts = ["Steve Smith's car, in São Paulo!", "黑豹队的防守只丢了 308分，在联赛中排名第六", "naïve café — «quoted» 1/2",
             "tab\there\u00a0nbsp\u200bzero-width\u0000nul", "مرحبا، كيف حالك؟", "Ça va? ÉTÉ"]
    for lower in (False, True):
        ref = legacy.BasicTokenizer(do_lower_case=lower, tokenize_chinese_chars=True, strip_accents=None)
        for text in texts:
            assert basic_tokens(text, lower) == ref.tokenize(text), (text, lower)


def test_projection_is_get_final_texts():
    from xtreme_harness.families.qa_text import project

    assert project("steve smith", "Steve Smith's", lower=True) == "Steve Smith"  # get_final_text's own example
    assert project("Paris", "Paris,") == "Paris"
    assert project("Paris , France", "Paris, France.") == "Paris, France"
    assert project("Paris France", "Paris, France.") == "Paris, France."  # not found ("Paris , France"): whole
    # a CJK span without the spaces BERT's basic tokenizer puts between CJK characters: the whole words
    chunk = "职业碗。职业碗防守截锋卡万·肖特以"
    assert project("卡万·肖特", chunk) == chunk
    assert project("卡 万 · 肖 特", chunk) == "卡万·肖特"  # WordPiece's joined pieces are spaced: found


def test_qa_answer_text_xtreme_against_offsets(me5):
    """The real XLM-R tokenizer on a Chinese context: XTREME writes the run of text between spaces, the offsets
    the span; on a German one both agree."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(me5))
    spec = registry()["xquad"]
    fam = FAMILIES["qa"]
    zh = "职业碗防守截锋卡万·肖特以 11 分领先于全队"
    de = "Die Katze saß auf der Matte in Paris, sagte man."
    examples = [QAExample(id="zh", question="谁领先？", context=zh, answers=[Answer(text="卡万·肖特", start=7)]),
                QAExample(id="de", question="Wo saß sie?", context=de, answers=[Answer(text="Paris", start=31)])]

    class SpanQA(RuleQA):
        """Logits that pick the gold span of each question (found through the offsets of the features)."""

        def forward(self, input_ids, attention_mask=None, **_):
            start = torch.full(input_ids.shape, -10.0)
            end = torch.full(input_ids.shape, -10.0)
            for row, ids in enumerate(input_ids.tolist()):
                i, j = self.targets[tuple(t for t in ids if t != self.pad_id)]
                start[row, i], end[row, j] = 10.0, 10.0
            return {"start_logits": start, "end_logits": end}

    from xtreme_harness.families.qa import featurize

    feats = featurize(examples, tok, max_length=384)
    model = SpanQA(tok.pad_token_id, -10.0)
    model.targets = {}
    for f in feats:
        ex = examples[f["example_index"]]
        a = ex.answers[0]
        pos = [p for p, o in enumerate(f["offset_mapping"]) if o and o[1] > a.start and o[0] < a.start + len(a.text)]
        model.targets[tuple(f["input_ids"])] = (pos[0], pos[-1])
    out = {mode: fam.predict(spec, examples, fam.settings(spec, {"answer_text": mode}), _head(model, tok),
                             lang="xx").output for mode in ("xtreme", "offsets")}
    assert out["offsets"] == {"zh": "卡万·肖特", "de": "Paris"}
    assert out["xtreme"] == {"zh": "职业碗防守截锋卡万·肖特以", "de": "Paris"}
