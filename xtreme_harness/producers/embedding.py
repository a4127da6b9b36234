"""Sentence embeddings for the retrieval families: XTREME's hidden-layer protocol, and a cache for any encoder.

:class:`HiddenStateEncoder` is XTREME's protocol for a plain transformers
encoder: the mean over every non-pad position (special tokens included), or
the first position, of ``hidden_states[layer]`` (0 is the embedding output),
each text cut to ``max_length`` sub-tokens. The layers above ``layer`` are
not run (XTREME's layer 8 of 12, 14 of 24: a third to two fifths of the
model's work) once a sample batch has given the same embeddings, bit for
bit, with and without them; an architecture where they differ (a final norm
applied to the last hidden state) keeps every layer. :class:`CachedEncoder` wraps any
:class:`~xtreme_harness.families.Encoder`: the last few arrays are kept in
memory (one LAReQA pool serves every question language) and, when asked for,
on disk as ``.npy`` files keyed by the encoder's identity, the length and the
texts (read with ``allow_pickle=False``; a damaged file is a miss).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..families.base import FEATURES_VERSION, tokenizer_libraries
from ..families.tokens import Rows, encode, rows_of, with_types
from ..io import featcache, progress
from ..io.files import atomic_write_bytes, confined_to


def default_layer(num_layers: int | None) -> int:
    """XTREME's layer: 8 of 12 (base) and 14 of 24 (large); other depths: two thirds, rounded."""
    if not num_layers:
        return 8
    return {12: 8, 24: 14}.get(num_layers, max(1, round(num_layers * 2 / 3)))


def _layer_stack(model) -> tuple[Any, str, Any] | None:
    """(parent, attribute, list) of the model's one ``ModuleList`` of ``num_hidden_layers`` layers; None when
    there is not exactly one."""
    import torch

    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n]
    if not n or len(found) != 1:
        return None
    name, stack = found[0]
    parent_name, _, attr = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), attr, stack


@contextlib.contextmanager
def first_layers(model, keep: int):
    """The model runs only its first ``keep`` layers inside the block (its layer list cut, then put back)."""
    import torch

    spot = _layer_stack(model)
    if spot is None or keep >= len(spot[2]):
        yield False
        return
    parent, attr, stack = spot
    setattr(parent, attr, torch.nn.ModuleList(list(stack)[:keep]))
    try:
        yield True
    finally:
        setattr(parent, attr, stack)


class HiddenStateEncoder:
    """One hidden layer of a transformers encoder, pooled (XTREME's retrieval protocol)."""

    SAMPLE = 8  # rows of the batch that decides whether the layers above ``layer`` may be left out

    def __init__(self, model, tokenizer, engine, layer: int, pooling: str = "mean", feature_cache=None,
                 tokenizer_key: str | None = None, load_tokenizer=None):
        self.model, self._tokenizer, self.engine = model, tokenizer, engine
        self.layer, self.pooling = layer, pooling
        self.feature_cache, self.tokenizer_key = feature_cache, tokenizer_key
        self._load_tokenizer = load_tokenizer
        self.cut: bool | None = None  # whether the layers above ``layer`` are left out (None: not tried yet)

    @property
    def tokenizer(self):
        """The tokenizer: given, or loaded on first use by ``load_tokenizer`` (cached features need none)."""
        if self._tokenizer is None and self._load_tokenizer is not None:
            self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def features(self, texts: list[str], max_length: int) -> Rows:
        """Token rows of ``texts`` (cut to ``max_length`` sub-tokens), from the feature cache when it has them."""
        def build():
            return rows_of(encode(self.tokenizer, texts, max_length=max_length, strategy="longest_first"),
                           with_types(self.tokenizer))

        if self.feature_cache is None or self.tokenizer_key is None:
            return build()
        h = hashlib.sha256()
        for s in texts:
            h.update(hashlib.sha256(s.encode("utf-8")).digest())
        key = featcache.digest(FEATURES_VERSION, tokenizer_libraries(), "embedding", max_length, self.tokenizer_key,
                               h.hexdigest())
        hit = self.feature_cache.load(key)
        if hit is not None:
            return Rows.from_arrays(hit[0])
        rows = build()
        self.feature_cache.save(key, rows.arrays())
        return rows

    def describe(self) -> dict[str, Any]:
        return {"layer": self.layer, "pooling": self.pooling}

    def _same_without_upper_layers(self, feats: Rows, forward) -> bool:
        """Whether a sample batch embeds bit for bit the same with only the layers up to ``layer``, and the
        whole model still embeds it as before afterwards.

        The whole model runs first: transformers installs its hidden-state hooks on the layers present at
        the first forward that collects them, so a first forward without the upper layers would leave them
        unhooked (and ``hidden_states[layer]`` silently another layer's) for every later whole run."""
        sample = feats.take(range(min(self.SAMPLE, len(feats))))
        whole = np.asarray(self.engine.run(self.model, sample, forward, token_keys=[])["embedding"])
        try:
            with first_layers(self.model, self.layer) as cut:
                if not cut:
                    return False
                short = np.asarray(self.engine.run(self.model, sample, forward, token_keys=[])["embedding"])
        except Exception:  # noqa: BLE001 - an architecture that needs all its layers: run them all
            return False
        again = np.asarray(self.engine.run(self.model, sample, forward, token_keys=[])["embedding"])
        return bool(np.array_equal(short, whole) and np.array_equal(again, whole))

    def encode(self, texts: Sequence[str], max_length: int, desc: str = "") -> np.ndarray:
        """Float32 embeddings, one row per text, in input order."""
        from .engine import cls_pool, mean_pool

        texts = list(texts)
        progress.status(f"tokenising {len(texts):,} texts")
        feats = self.features(texts, max_length) if texts else []
        layer, pooling = self.layer, self.pooling

        def forward(m, batch):
            hidden = m(**batch, output_hidden_states=True).hidden_states[layer]
            pooled = cls_pool(hidden) if pooling == "cls" else mean_pool(hidden, batch["attention_mask"])
            return {"embedding": pooled}

        if self.cut is None and len(feats):
            self.cut = self._same_without_upper_layers(feats, forward)
        with first_layers(self.model, self.layer) if self.cut else contextlib.nullcontext():
            outs = self.engine.run(self.model, feats, forward, desc=desc, token_keys=[])
        dim = self.model.config.hidden_size
        return np.asarray(outs["embedding"], dtype="float32") if len(feats) else np.zeros((0, dim), "float32")


class CachedEncoder:
    """Any encoder, its last arrays kept in memory and (with ``cache_dir``) on disk."""

    MEMORY = 2  # a LAReQA pool and one language's questions; a BUCC corpus is never held twice

    def __init__(self, encoder, identity: Any, cache_dir: str | os.PathLike | None = None):
        self.encoder, self.identity = encoder, identity
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        return self.encoder.describe()

    def key(self, texts: Sequence[str], max_length: int) -> str:
        """The encoder (model by content, how it embeds), the length and the texts themselves."""
        h = hashlib.sha256(json.dumps([self.identity, self.describe(), max_length], sort_keys=True,
                                      default=str).encode())
        for s in texts:
            h.update(hashlib.sha256(s.encode("utf-8")).digest())
        return h.hexdigest()

    def encode(self, texts: Sequence[str], max_length: int, desc: str = "") -> np.ndarray:
        texts = list(texts)
        key = self.key(texts, max_length)
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key]
        cache_file = self.cache_dir / f"{key}.npy" if self.cache_dir else None
        emb = None
        if cache_file is not None and cache_file.is_file():
            try:  # a truncated or foreign file is a cache miss, recomputed and replaced
                emb = np.load(cache_file, allow_pickle=False)
            except (OSError, ValueError, EOFError):
                emb = None
            if emb is not None and (emb.ndim != 2 or emb.shape[0] != len(texts) or emb.dtype != np.float32):
                emb = None
        if emb is None:
            emb = np.asarray(self.encoder.encode(texts, max_length, desc), dtype=np.float32)
            if cache_file is not None:
                buf = io.BytesIO()
                np.save(buf, emb, allow_pickle=False)
                with confined_to(self.cache_dir):  # the cache's own folder, wherever the run's output is
                    atomic_write_bytes(cache_file, buf.getvalue())
        self._memory[key] = emb
        while len(self._memory) > self.MEMORY:
            self._memory.popitem(last=False)
        return emb


__all__ = ["CachedEncoder", "HiddenStateEncoder", "default_layer"]
