"""The shared inference engine: batched results must equal one-at-a-time results, in order."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xtreme_harness.producers.engine import cls_pool, InferenceEngine, load_kwargs, logits_forward, mean_pool, prepare_model, resolve_device, resolve_dtype
from xtreme_harness.io.errors import UserError

transformers = pytest.importorskip("transformers")


def _config(**kw):
    return transformers.XLMRobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=130, **kw)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: tiny models run on one thread


@pytest.fixture(scope="module")
def seq_model():
    torch.manual_seed(0)
    return transformers.XLMRobertaForSequenceClassification(_config(num_labels=3)).eval()


@pytest.fixture(scope="module")
def tok_model():
    torch.manual_seed(1)
    return transformers.XLMRobertaForTokenClassification(_config(num_labels=7)).eval()


@pytest.fixture(scope="module")
def features():
    """Varied lengths (1..80) in no particular order, with pass-through metadata."""
    rng = np.random.default_rng(0)
    feats = []
    for i in range(37):
        n = int(rng.integers(1, 81))
        ids = [0] + rng.integers(3, 100, size=max(n - 2, 0)).tolist() + [2]
        ids = ids[:n]
        feats.append({"input_ids": ids, "attention_mask": [1] * n, "guid": f"ex-{i}", "labels": list(range(n))})
    return feats


def _naive(model, feats):
    with torch.inference_mode():
        return [model(input_ids=torch.tensor([f["input_ids"]])).logits[0].numpy() for f in feats]


@pytest.mark.parametrize("batch_size", [1, 5, "auto"])
def test_sequence_outputs_match_one_at_a_time_in_order(seq_model, features, batch_size):
    engine = InferenceEngine(device="cpu", batch_size=batch_size, progress=False)
    got = engine.run(seq_model, features, logits_forward, desc="xnli")
    want = _naive(seq_model, features)
    assert len(got) == len(features)
    for f, g, w in zip(features, got, want):
        assert g["logits"].dtype == np.float32 and g["logits"].shape == (3,)
        np.testing.assert_allclose(g["logits"], w, atol=1e-5, rtol=1e-5)
        assert g["guid"] == f["guid"] and g["labels"] is f["labels"]  # metadata untouched
    st_ = engine.stats
    assert st_.examples == len(features) and st_.tokens == sum(len(f["input_ids"]) for f in features)
    assert st_.padded_tokens >= st_.tokens and st_.batches >= 1 and st_.seconds > 0


def test_token_outputs_trimmed_to_each_length(tok_model, features):
    engine = InferenceEngine(device="cpu", batch_size=6, progress=False)
    got = engine.run(tok_model, features, logits_forward)
    for f, g, w in zip(features, got, _naive(tok_model, features)):
        assert g["logits"].shape == (len(f["input_ids"]), 7)
        np.testing.assert_allclose(g["logits"], w, atol=1e-5, rtol=1e-5)


def test_byte_identical_across_runs(tok_model, features):
    a = InferenceEngine(device="cpu", batch_size=7, progress=False).run(tok_model, features)
    b = InferenceEngine(device="cpu", batch_size=7, progress=False).run(tok_model, features)
    assert [r["logits"].tobytes() for r in a] == [r["logits"].tobytes() for r in b]


def _oom_after(limit, exc_type=RuntimeError):
    calls = {"oom": 0}

    def forward(model, batch):
        if batch["input_ids"].shape[0] > limit:
            calls["oom"] += 1
            raise exc_type("CUDA out of memory. Tried to allocate 2.00 GiB")
        return logits_forward(model, batch)

    return forward, calls


@pytest.mark.parametrize("exc_type", [RuntimeError, torch.cuda.OutOfMemoryError])
def test_oom_backs_off_and_keeps_every_example(seq_model, features, exc_type):
    forward, calls = _oom_after(4, exc_type)
    engine = InferenceEngine(device="cpu", batch_size="auto", progress=False)
    got = engine.run(seq_model, features, forward)
    assert calls["oom"] >= 1 and engine.stats.oom_backoffs == calls["oom"]
    assert len(got) == len(features)
    for g, w in zip(got, _naive(seq_model, features)):
        np.testing.assert_allclose(g["logits"], w, atol=1e-5, rtol=1e-5)
    # The smaller budget is remembered: a second run needs no further back-off.
    calls["oom"] = 0
    engine.run(seq_model, features, forward)
    assert calls["oom"] == 0


def test_oom_with_fixed_batch_size_warns_and_recovers(seq_model, features):
    forward, _ = _oom_after(3)
    engine = InferenceEngine(device="cpu", batch_size=16, progress=False)
    with pytest.warns(UserWarning, match="out of memory"):
        got = engine.run(seq_model, features, forward)
    assert [g["guid"] for g in got] == [f["guid"] for f in features]


def test_oom_at_one_sequence_is_a_user_error(seq_model, features):
    forward, _ = _oom_after(0)
    with pytest.raises(UserError, match="single sequence"):
        InferenceEngine(device="cpu", progress=False).run(seq_model, features, forward)


def test_other_runtime_errors_propagate(seq_model, features):
    def forward(model, batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        InferenceEngine(device="cpu", progress=False).run(seq_model, features, forward)


def test_nan_names_the_feature(seq_model, features):
    bad = 11

    def forward(model, batch):
        logits = logits_forward(model, batch)["logits"].clone()
        for row in range(logits.shape[0]):
            if batch["input_ids"][row].tolist()[: len(features[bad]["input_ids"])] == features[bad]["input_ids"] \
                    and int(batch["attention_mask"][row].sum()) == len(features[bad]["input_ids"]):
                logits[row, 1] = float("nan")
        return {"logits": logits}

    with pytest.raises(UserError, match=f"feature {bad} "):
        InferenceEngine(device="cpu", batch_size=4, progress=False).run(seq_model, features, forward)


def test_non_finite_values_at_pad_positions_are_ignored(tok_model, features):
    def forward(model, batch):
        logits = logits_forward(model, batch)["logits"].clone()
        logits[batch["attention_mask"] == 0] = float("-inf")
        return {"logits": logits}

    got = InferenceEngine(device="cpu", batch_size=8, progress=False).run(tok_model, features, forward)
    assert all(np.isfinite(g["logits"]).all() for g in got)


def test_class_axis_equal_to_padded_length_is_not_trimmed():
    # One batch padded to 8 and an 8-wide per-example output: shape alone cannot tell.
    feats = [{"input_ids": list(range(1, n + 1))} for n in (8, 3, 5)]

    def forward(model, batch):
        ids = batch["input_ids"].float()
        return {"emb": ids.sum(1, keepdim=True).expand(-1, 8).clone(), "tok": ids * 2}

    got = InferenceEngine(device="cpu", batch_size=8, progress=False).run(None, feats, forward)
    for f, g in zip(feats, got):
        assert g["emb"].shape == (8,)
        np.testing.assert_array_equal(g["tok"], np.array(f["input_ids"], dtype=np.float32) * 2)
    declared = InferenceEngine(device="cpu", progress=False).run(None, feats, forward, token_keys=["tok"])
    assert [g["emb"].shape for g in declared] == [(8,)] * 3


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=30),
       batch_size=st.integers(1, 9), budget=st.one_of(st.none(), st.integers(1, 120)))
def test_batching_property(lengths, batch_size, budget):
    """Any lengths, caps and budgets: every feature back once, in order, trimmed, batches within limits."""
    feats = [{"input_ids": [(7 * i + j) % 50 + 1 for j in range(n)], "i": i} for i, n in enumerate(lengths)]
    shapes = []

    def forward(model, batch):
        ids = batch["input_ids"]
        shapes.append(tuple(ids.shape))
        assert ((batch["attention_mask"] == 0) == (ids == -1)).all()  # mask 0 exactly on pads
        return {"tok": ids.float(), "n": batch["attention_mask"].sum(1).float()}

    engine = InferenceEngine(device="cpu", batch_size=batch_size, max_tokens_per_batch=budget, progress=False)
    got = engine.run(None, feats, forward, pad_token_id=-1, token_keys=["tok"])  # no probe: shapes == batches
    for f, g in zip(feats, got):
        assert g["i"] == f["i"] and g["n"] == len(f["input_ids"])
        np.testing.assert_array_equal(g["tok"], np.array(f["input_ids"], dtype=np.float32))
    batches = shapes
    assert len(batches) == engine.stats.batches
    assert sum(b for b, _ in batches) == len(feats)
    lens_desc = [L for _, L in batches]
    assert lens_desc == sorted(lens_desc, reverse=True)
    for b, L in batches:
        assert b <= batch_size and (budget is None or b == 1 or b * L <= budget)
    assert engine.stats.padded_tokens == sum(b * L for b, L in batches)


def test_empty_and_invalid_features(seq_model):
    engine = InferenceEngine(device="cpu", progress=False)
    assert engine.run(seq_model, [], logits_forward) == []
    with pytest.raises(UserError, match="feature 1 has no tokens"):
        engine.run(seq_model, [{"input_ids": [0, 2]}, {"input_ids": []}])
    with pytest.raises(UserError, match="feature 0: attention_mask"):
        engine.run(seq_model, [{"input_ids": [0, 5, 2], "attention_mask": [1, 1]}])


def test_bfloat16_on_cpu_returns_float32(seq_model, features):
    model = transformers.XLMRobertaForSequenceClassification(seq_model.config)
    got = InferenceEngine(device="cpu", dtype="bfloat16", batch_size=16, progress=False).run(model, features[:6])
    assert next(model.parameters()).dtype == torch.bfloat16
    assert all(g["logits"].dtype == np.float32 for g in got)


def test_cuda_absent_is_a_user_error():
    if torch.cuda.is_available():
        with pytest.raises(UserError, match="cuda:999"):
            resolve_device("cuda:999")
        return
    for name in ("cuda", "cuda:0"):
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_device(name)
    with pytest.raises(UserError):
        InferenceEngine(device="cuda")


def test_device_dtype_and_batch_size_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(UserError, match="expected auto"):
        resolve_device("tpu")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.warns(UserWarning, match="float16"):
        assert resolve_dtype("float16", "cpu") == torch.float32
    with pytest.raises(UserError, match="--dtype"):
        resolve_dtype("int8", "cpu")
    for bad in (0, -3, "abc", 2.5):
        with pytest.raises(UserError, match="--batch-size"):
            InferenceEngine(device="cpu", batch_size=bad)
    assert InferenceEngine(device="cpu", batch_size="32").batch_size == 32


def test_load_kwargs_and_prepare_model():
    kw = load_kwargs("cpu", "auto")
    assert kw["attn_implementation"] == "sdpa"
    assert kw.get("dtype", kw.get("torch_dtype")) == torch.float32
    cfg = _config(num_labels=2)
    cfg._attn_implementation = "eager"
    model = transformers.XLMRobertaForSequenceClassification(cfg).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_model(model, "cpu", "bfloat16")
    assert not model.training and next(model.parameters()).dtype == torch.bfloat16
    assert model.config._attn_implementation == "sdpa"


def test_pooling(seq_model, features):
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(mean_pool(hidden, mask)[0], hidden[0, :2].mean(0))
    np.testing.assert_allclose(mean_pool(hidden, mask)[1], hidden[1].mean(0))
    assert torch.equal(cls_pool(hidden), hidden[:, 0])
    assert torch.equal(mean_pool(hidden, torch.zeros(2, 3)), torch.zeros(2, 4))  # no NaN on empty rows

    encoder = seq_model.roberta

    def embed(model, batch):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return {"mean": mean_pool(out.last_hidden_state, batch["attention_mask"]),
                "cls": cls_pool(out.last_hidden_state)}

    got = InferenceEngine(device="cpu", batch_size=8, progress=False).run(encoder, features, embed)
    with torch.inference_mode():
        for f, g in zip(features, got):
            h = encoder(input_ids=torch.tensor([f["input_ids"]])).last_hidden_state[0]
            np.testing.assert_allclose(g["mean"], h.mean(0).numpy(), atol=1e-5)
            np.testing.assert_allclose(g["cls"], h[0].numpy(), atol=1e-5)
