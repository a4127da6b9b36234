"""Retrieval embeddings from XTREME's hidden layer leave the layers above it out only where that gives the same
embeddings bit for bit: BERT- and XLM-R-style encoders (the last hidden state is the last layer's output) run
fewer layers with identical embeddings; an encoder whose last hidden state passes a final norm (XLM-R XL)
keeps all its layers; and the whole model is unharmed afterwards."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from xtreme_harness.families.tokens import Rows  # noqa: E402
from xtreme_harness.producers.embedding import HiddenStateEncoder, first_layers  # noqa: E402
from xtreme_harness.producers.engine import InferenceEngine  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPE = dict(vocab_size=120, hidden_size=32, num_hidden_layers=6, num_attention_heads=2, intermediate_size=48,
             max_position_embeddings=80, pad_token_id=1)


def _model(kind: str):
    torch.manual_seed(0)
    if kind == "bert":
        config = transformers.BertConfig(**SHAPE)
    elif kind == "xlmr":
        config = transformers.XLMRobertaConfig(**SHAPE)
    else:
        config = transformers.XLMRobertaXLConfig(**SHAPE)
    return transformers.AutoModel.from_config(config, attn_implementation="sdpa").eval()


def _rows(n: int = 40) -> Rows:
    rng = np.random.default_rng(0)
    lens = rng.integers(3, 30, size=n)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    ids = rng.integers(5, 120, size=int(starts[-1])).astype(np.int32)
    ids[starts[:-1]] = 0
    return Rows(ids, starts)


class _Fixed(HiddenStateEncoder):
    def features(self, texts, max_length):
        return self.rows.take(range(len(texts)))


def _embed(model, layer: int, cut: bool | None):
    enc = _Fixed(model, None, InferenceEngine(device="cpu", progress=False), layer)
    enc.rows = _rows()
    enc.cut = cut
    out = enc.encode([str(i) for i in range(len(enc.rows))], 64)
    return out, enc.cut


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_layers_above_the_pooled_one_are_left_out_with_the_same_embeddings(kind):
    want, _ = _embed(_model(kind), 4, cut=False)
    got, cut = _embed(_model(kind), 4, cut=None)
    assert cut is True
    assert np.array_equal(got, want)


def test_a_final_norm_keeps_every_layer():
    want, _ = _embed(_model("xl"), 4, cut=False)
    got, cut = _embed(_model("xl"), 4, cut=None)
    assert cut is False
    assert np.array_equal(got, want)


def test_the_whole_model_is_unharmed_and_the_top_layer_needs_no_cut():
    model = _model("xlmr")
    _embed(model, 3, cut=None)  # cut runs first on this model
    fresh_want, _ = _embed(_model("xlmr"), 6, cut=False)
    after, cut = _embed(model, 6, cut=None)
    assert cut is False  # nothing above layer 6 of 6
    assert np.array_equal(after, fresh_want)
    assert len(model.encoder.layer) == 6
    with first_layers(model, 2) as done:
        assert done and len(model.encoder.layer) == 2
    assert len(model.encoder.layer) == 6
