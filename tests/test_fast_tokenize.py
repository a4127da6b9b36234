"""The array paths (Rust batch encoding into columns, vectorised decoding) equal the transformers-call paths,
feature for feature, on real tokenizers: me5-small's XLM-R sentencepiece tokenizer, the WordPiece tokenizer of
tests/tiny.py (token type ids, [CLS]/[SEP]) and the demo's XLM-R-style WordPiece tokenizer.

Every family whose prediction path moved to :class:`~xtreme_harness.families.tokens.Rows` is covered:
classification, multiple choice, tagging (chunks and overlapping windows), QA (windows, long questions, the
answer text) and the retrieval embedding features; and the engine returns the same outputs for Rows as for
feature dicts, through its feeder and finisher threads, out-of-memory back-off included.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import SHARED_DATA
from tiny import CORPUS, build_tokenizer
from xtreme_harness.families import classification, multiple_choice, qa, tagging
from xtreme_harness.families.tokens import Columns, Rows, encode, rows_of, with_types
from xtreme_harness.formats.examples import ChoiceExample, PairExample, QAExample, TaggingExample

transformers = pytest.importorskip("transformers")

XNLI = SHARED_DATA / "xnli" / "test-de.tsv"
PANX = SHARED_DATA / "panx" / "dev-de.tsv"
XQUAD = SHARED_DATA / "xquad" / "xquad.zh.json"


@pytest.fixture(scope="module", params=["me5", "wordpiece", "demo"])
def tok(request, tmp_path_factory):
    if request.param == "me5":
        from conftest import me5_small

        return transformers.AutoTokenizer.from_pretrained(str(me5_small()))
    if request.param == "wordpiece":
        return build_tokenizer(tmp_path_factory.mktemp("wp"))
    from xtreme_harness.demo import build_tokenizer as demo_tokenizer

    return demo_tokenizer(CORPUS * 5 + ["the quick brown fox jumps over the lazy dog"] * 5, vocab_size=300)


def _texts(n: int, seed: int = 0) -> list[str]:
    """Real sentences where the shared data is here (else the tiny corpus), some long, some odd."""
    rng = random.Random(seed)
    lines = []
    if XNLI.is_file():
        for line in XNLI.read_text(encoding="utf-8").splitlines()[:400]:
            lines.extend(line.split("\t")[:2])
    lines = lines or list(CORPUS)
    out = [rng.choice(lines) for _ in range(n)]
    out[::7] = [" ".join(rng.choice(lines) for _ in range(12)) for _ in out[::7]]  # longer than any window
    out[3::11] = ["  spaced   out\ttext  ", "猫猫猫猫 ", "\u200b", "x"][: len(out[3::11])] + out[3::11][4:]
    return out


def _same(old: dict, new: dict, drop=("labels",)) -> None:
    old = {k: v for k, v in old.items() if k not in drop}
    new = dict(new)
    if "attention_mask" not in old:
        assert new.pop("attention_mask") == [1] * len(new["input_ids"])
    assert new == old


def test_encode_restores_the_backend_settings(tok):
    backend = tok.backend_tokenizer
    before = (backend.truncation, backend.padding)
    encode(tok, ["a b c"] * 3, ["d e f g h i j k l m n o p"] * 3, max_length=24, strategy="only_second", stride=2)
    assert (backend.truncation, backend.padding) == before


@pytest.mark.parametrize("max_length", [128, 24])
def test_classification_rows_equal_features(tok, max_length):
    texts = _texts(120)
    examples = [PairExample(id=str(i), text_a=a, text_b=b, label=None)
                for i, (a, b) in enumerate(zip(texts, reversed(texts)))]
    old = classification.featurize(examples, tok, max_length=max_length)
    rows = classification.featurize_rows(examples, tok, max_length=max_length)
    assert len(rows) == len(old) and rows.stats == old.stats
    for i, f in enumerate(old):
        _same(f, rows.feature(i))
    if max_length == 24:
        assert rows.stats["truncated"] > 0


def test_multiple_choice_rows_equal_features(tok):
    texts = _texts(60, seed=1)
    examples = [ChoiceExample(id=str(i), context=texts[i], question=["cause", "effect", ""][i % 3],
                              choices=[texts[(i + 1) % 60], texts[(i + 2) % 60]], label=i % 2) for i in range(30)]
    old = multiple_choice.featurize(examples, tok, max_length=32)
    flat, owner = multiple_choice.flatten(old)
    rows = multiple_choice.featurize_rows(examples, tok, max_length=32)
    assert rows.stats == old.stats and rows.row["owner"].tolist() == owner
    for i, f in enumerate(flat):
        got = rows.feature(i)
        got.pop("owner")
        _same(f, got)


def _tagging_examples(n: int = 150) -> list[TaggingExample]:
    sents = []
    if PANX.is_file():
        words = []
        for line in PANX.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.split("\t")[0])
            elif words:
                sents.append(words)
                words = []
    sents = sents[:n] or [s.split() for s in CORPUS]
    rng = random.Random(2)
    out = [TaggingExample(id=str(i), tokens=list(s), tags=None) for i, s in enumerate(sents)]
    long = [w for s in sents for w in s][:300]
    out.append(TaggingExample(id="long", tokens=long, tags=None))  # several windows
    out.append(TaggingExample(id="empty", tokens=[], tags=None))
    out.append(TaggingExample(id="odd", tokens=["\u200b", "x" * 400, "ok", "\u0301"], tags=None))  # no pieces; too long
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("max_length, stride", [(128, 0), (16, 0), (20, 8)])
def test_tagging_rows_equal_features_and_decode(tok, max_length, stride):
    examples = _tagging_examples()
    old = tagging.featurize(examples, tok, max_length=max_length, stride=stride)
    rows = tagging.featurize_rows(examples, tok, max_length=max_length, stride=stride)
    assert rows.stats == old.stats and len(rows) == len(old)
    assert old.stats["windowed"] > 0 and old.stats["long_words"] + old.stats["empty_subtoken_words"] > 0
    for i, f in enumerate(old):
        _same(f, rows.feature(i))
    labels = {0: "O", 1: "B-PER", 2: "I-PER", 4: "B-LOC"}  # an id left out is never predicted
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(int(rows.starts[-1]), 5)).astype(np.float32)
    logits[::5, 2] = logits[::5, 0]  # ties: the lowest id wins on both paths
    per_feature = [logits[rows.starts[i]:rows.starts[i + 1]] for i in range(len(rows))]
    assert tagging.decode_rows(rows, logits, examples, labels) == tagging.decode(old, per_feature, examples, labels)


def test_tagging_decode_rows_names_a_word_without_prediction(tok):
    examples = _tagging_examples(20)
    rows = tagging.featurize_rows(examples, tok)
    other = [TaggingExample(id=ex.id, tokens=ex.tokens + ["extra"], tags=None) for ex in examples]
    with pytest.raises(ValueError, match="no prediction for word"):
        tagging.decode_rows(rows, np.zeros((int(rows.starts[-1]), 3), np.float32), other, {0: "O", 1: "B", 2: "I"})


def _qa_examples() -> list[QAExample]:
    if XQUAD.is_file():
        import json

        data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
        out = []
        for art in data[:3]:
            for para in art["paragraphs"][:4]:
                for q in para["qas"][:3]:
                    out.append(QAExample(id=q["id"], question=q["question"], context=para["context"], answers=[]))
    else:
        out = [QAExample(id=str(i), question=CORPUS[i], context=" ".join(CORPUS) * 20, answers=[])
               for i in range(len(CORPUS))]
    out.append(QAExample(id="long-q", question=" ".join(CORPUS) * 3, context="  A  context\twith   gaps " * 100,
                         answers=[]))
    out.append(QAExample(id="spaces", question="where?", context="\u3000 x \u2581 y  \u00a0 z " * 100, answers=[]))
    return out


@pytest.mark.parametrize("max_length, doc_stride, max_query_length", [(384, 128, 64), (48, 16, 12)])
def test_qa_rows_equal_features_and_decode(tok, max_length, doc_stride, max_query_length):
    examples = _qa_examples()
    old = qa.featurize(examples, tok, max_length, doc_stride, max_query_length)
    rows = qa.featurize_rows(examples, tok, max_length, doc_stride, max_query_length)
    assert rows.stats == old.stats
    assert old.stats["query_truncated"] > 0 and old.stats["windowed"] > 0
    new = qa.rows_as_features(rows)
    assert len(new) == len(old)
    for f, g in zip(old, new):
        _same(f, g)
    rng = np.random.default_rng(1)
    starts = [rng.normal(size=max_length).astype(np.float32) for _ in old]
    ends = [rng.normal(size=max_length).astype(np.float32) for _ in old]
    for tokenizer in (None, tok):
        want = qa.decode(examples, old, starts, ends, n_best=20, max_answer_length=30, empty="empty",
                         tokenizer=tokenizer, full=True)
        got = qa.decode_rows(examples, rows, starts, ends, n_best=20, max_answer_length=30, empty="empty",
                             tokenizer=tokenizer, full=True)
        assert got == want


def test_embedding_rows_equal_the_tokenizer_call(tok):
    texts = _texts(80, seed=3)
    for max_length in (512, 12):
        enc = tok(texts, truncation=True, max_length=max_length)
        rows = rows_of(encode(tok, texts, max_length=max_length, strategy="longest_first"), with_types(tok))
        for i in range(len(texts)):
            got = rows.feature(i)
            assert got["input_ids"] == enc["input_ids"][i]
            if "token_type_ids" in enc:
                assert got["token_type_ids"] == enc["token_type_ids"][i]


# --- the engine: Rows in, the same outputs out --------------------------------------------------------

@pytest.fixture(scope="module")
def tok_model():
    import torch

    torch.manual_seed(1)
    cfg = transformers.XLMRobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=64, max_position_embeddings=130, num_labels=5)
    return transformers.XLMRobertaForTokenClassification(cfg).eval()


def _rows(seed: int = 0, n: int = 45, types: bool = False) -> tuple[Rows, list[dict]]:
    rng = np.random.default_rng(seed)
    lists = [rng.integers(3, 100, size=int(rng.integers(1, 60))).tolist() for _ in range(n)]
    type_lists = [[int(j > len(x) // 2) for j in range(len(x))] for x in lists]
    rows = Rows(np.concatenate([np.asarray(x, np.int32) for x in lists]),
                np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64),
                np.concatenate([np.asarray(x, np.int32) for x in type_lists]) if types else None,
                {"example_index": np.arange(n)})
    feats = [{"input_ids": x, "attention_mask": [1] * len(x), **({"token_type_ids": t} if types else {})}
             for x, t in zip(lists, type_lists)]
    return rows, feats


@pytest.mark.parametrize("prefetch, overlap", [(2, True), (0, False)])
@pytest.mark.parametrize("pad_to", [None, 64])
def test_engine_rows_equal_list_outputs(tok_model, prefetch, overlap, pad_to):
    from xtreme_harness.producers.engine import InferenceEngine, logits_forward

    rows, feats = _rows()

    def forward(model, batch):
        out = logits_forward(model, batch)["logits"]
        return {"logits": out, "first": out[:, 0].clone()}

    engine = InferenceEngine(device="cpu", batch_size=7, progress=False)
    engine.prefetch, engine.overlap = prefetch, overlap
    want = engine.run(tok_model, feats, forward, token_keys=["logits"], pad_to=pad_to)
    got = engine.run(tok_model, rows, forward, token_keys=["logits"], pad_to=pad_to)
    assert isinstance(got, Columns) and len(got) == len(feats)
    for i, w in enumerate(want):
        np.testing.assert_array_equal(got.per_row("logits")[i], w["logits"])
        np.testing.assert_array_equal(got["first"][i], w["first"])
    if pad_to:
        assert got.padded("logits").shape == (len(feats), pad_to, 5)


def test_engine_rows_pass_token_type_ids(tok_model):
    from xtreme_harness.producers.engine import InferenceEngine

    rows, feats = _rows(types=True)
    seen = []

    def forward(model, batch):
        seen.append(sorted(batch))
        return {"s": batch["token_type_ids"].sum(1).float()}

    got = InferenceEngine(device="cpu", batch_size=8, progress=False).run(tok_model, rows, forward, token_keys=[])
    assert seen[0] == ["attention_mask", "input_ids", "token_type_ids"]
    assert got["s"].tolist() == [float(sum(f["token_type_ids"])) for f in feats]


def test_engine_rows_back_off_on_oom_and_name_a_non_finite_feature(tok_model):
    import torch

    from xtreme_harness.io.errors import UserError
    from xtreme_harness.producers.engine import InferenceEngine, logits_forward

    rows, feats = _rows(seed=4)
    calls = {"oom": 0}

    def forward(model, batch):
        if batch["input_ids"].shape[0] > 3:
            calls["oom"] += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return logits_forward(model, batch)

    engine = InferenceEngine(device="cpu", batch_size="auto", progress=False)
    got = engine.run(tok_model, rows, forward, token_keys=["logits"])
    assert calls["oom"] >= 1
    want = InferenceEngine(device="cpu", batch_size=3, progress=False).run(tok_model, feats, token_keys=["logits"])
    for i, w in enumerate(want):
        np.testing.assert_allclose(got.per_row("logits")[i], w["logits"], atol=1e-6)

    bad = 17

    def nan_forward(model, batch):
        out = logits_forward(model, batch)["logits"].clone()
        for r in range(out.shape[0]):
            n = int(batch["attention_mask"][r].sum())
            if batch["input_ids"][r, :n].tolist() == feats[bad]["input_ids"]:
                out[r, 0, 0] = float("nan")
        return {"logits": out}

    with pytest.raises(UserError, match=f"feature {bad} "):
        InferenceEngine(device="cpu", batch_size=4, progress=False).run(tok_model, rows, nan_forward,
                                                                        token_keys=["logits"])


# --- the tokenizer is parsed once: the same tokenizer as transformers' own load ------------------------

@pytest.fixture(scope="module", params=["me5", "bench-tiny", "wordpiece", "demo"])
def tokenizer_folder(request, tmp_path_factory):
    from pathlib import Path

    if request.param == "me5":
        from conftest import me5_small

        return me5_small()
    if request.param == "bench-tiny":  # the bench suite's copy: tokenizer_config.json without added tokens
        from conftest import me5_small

        folder = tmp_path_factory.mktemp("bench-tok")
        src = Path(me5_small())
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if (src / name).is_file():
                (folder / name).write_bytes((src / name).read_bytes())
        return folder
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "wordpiece":
        build_tokenizer(folder)
    else:
        from xtreme_harness.demo import build_tokenizer as demo_tokenizer

        demo_tokenizer(CORPUS * 5, folder, vocab_size=300)
    return folder


def test_parse_once_loads_the_same_tokenizer(tokenizer_folder):
    from xtreme_harness.producers.checkpoints import Checkpoint
    from xtreme_harness.producers.native import load_tokenizer

    want = transformers.AutoTokenizer.from_pretrained(str(tokenizer_folder), use_fast=True)
    got = load_tokenizer(Checkpoint(path=str(tokenizer_folder), config={}, local=True))
    assert type(got) is type(want)
    for attr in ("cls_token", "sep_token", "unk_token", "pad_token", "mask_token", "bos_token", "eos_token",
                 "model_input_names", "all_special_ids", "all_special_tokens", "model_max_length", "padding_side",
                 "truncation_side", "split_special_tokens"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert str(got.added_tokens_decoder) == str(want.added_tokens_decoder)
    assert got.backend_tokenizer.to_str() == want.backend_tokenizer.to_str()
    texts = _texts(30, seed=5) + ["<mask> </s> <s> [SEP] [CLS] <unk>"]
    assert got(texts, texts[::-1], truncation=True, max_length=40)["input_ids"] == \
        want(texts, texts[::-1], truncation=True, max_length=40)["input_ids"]
    assert got.convert_ids_to_tokens(list(range(20))) == want.convert_ids_to_tokens(list(range(20)))


def test_added_tokens_are_read_off_the_head_only(tmp_path):
    from xtreme_harness.producers.native import _added_tokens

    (tmp_path / "t.json").write_text('{"version": "1.0", "truncation": null, "padding": null, "added_tokens": '
                                     '[{"id": 0, "content": "<s>", "special": true}], "model": {"vocab": [' +
                                     ",".join(['["x", 0.0]'] * 10) + "]}}", encoding="utf-8")
    assert _added_tokens(tmp_path / "t.json") == [{"id": 0, "content": "<s>", "special": True}]
    (tmp_path / "late.json").write_text('{"model": {"vocab": []}, "added_tokens": []}', encoding="utf-8")
    assert _added_tokens(tmp_path / "late.json") == []
    (tmp_path / "cut.json").write_text('{"model": "' + "x" * 200 + '", "added_tokens": []}', encoding="utf-8")
    assert _added_tokens(tmp_path / "cut.json", head_bytes=100) is None  # not within the head: the usual load


# --- pairs: each distinct text encoded once, laid out by the tokenizer's own template -------------------

@pytest.mark.parametrize("max_length", [None, 128, 40, 12])
def test_pair_rows_equal_the_pair_encoder(tok, max_length):
    from xtreme_harness.families.tokens import pair_rows, pair_template

    texts = _texts(300, seed=2)
    a = texts[::2] * 3  # premises repeat, as in XNLI
    b = (list(reversed(texts)) * 2)[: len(a)]
    assert pair_template(tok) is not None
    types = with_types(tok)
    got, whole = pair_rows(tok, a, b, max_length, types)
    want = rows_of(encode(tok, a, b, max_length=max_length, strategy="longest_first"), types)
    assert got.starts.tolist() == want.starts.tolist()
    assert got.ids.tolist() == want.ids.tolist()
    assert (got.types is None) == (want.types is None)
    if types:
        assert got.types.tolist() == want.types.tolist()
    assert whole.tolist() == [len(e.ids) for e in encode(tok, a, b)]
    if max_length is not None:  # both kinds of pair are in the test
        assert (whole > max_length).any() and ((whole <= max_length).any() or max_length < 20)


def test_pair_rows_without_a_plain_template_use_the_pair_encoder(tmp_path):
    from tokenizers import processors

    from xtreme_harness.families.tokens import pair_rows, pair_template

    tok = build_tokenizer(tmp_path / "wp")
    tok.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    assert pair_template(tok) is None
    a, b = ["the quick brown fox", "a"], ["jumps", "over the lazy dog"]
    got, whole = pair_rows(tok, a, b, 6, with_types(tok))
    want = rows_of(encode(tok, a, b, max_length=6, strategy="longest_first"), with_types(tok))
    assert got.ids.tolist() == want.ids.tolist() and got.starts.tolist() == want.starts.tolist()
    assert whole.tolist() == [len(e.ids) for e in encode(tok, a, b)]



@pytest.mark.parametrize("max_length, doc_stride, max_query_length", [(384, 128, 64), (48, 16, 12), (40, 30, 8)])
def test_qa_windows_of_contexts_equal_the_pair_encoder(tok, max_length, doc_stride, max_query_length, monkeypatch):
    """Each distinct context encoded once and cut into windows here gives the rows the pair encoder's
    only_second truncation with overflow gives (the path taken where the template is unknown)."""
    examples = _qa_examples()
    got = qa.featurize_rows(examples, tok, max_length, doc_stride, max_query_length)
    monkeypatch.setattr(qa, "pair_template", lambda tokenizer: None)
    want = qa.featurize_rows(examples, tok, max_length, doc_stride, max_query_length)
    assert got.stats == want.stats
    assert got.arrays().keys() == want.arrays().keys()
    for key, value in want.arrays().items():
        assert got.arrays()[key].dtype == value.dtype, key
        assert np.array_equal(got.arrays()[key], value), key
