"""Sentence embeddings from one hidden layer of any encoder, for the retrieval tasks.

The mean over every non-pad position (special tokens included) or the first
position, of ``hidden_states[layer]`` (0 is the embedding output), each text cut
to ``max_length`` sub-tokens. Embeddings are kept for the run in memory (one
LAReQA pool serves every question language) and, when asked for, on disk as
``.npy`` files keyed by model, layer, pooling, length and the texts; ``.npy``
is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from .data.io import atomic_write_bytes, folder_fingerprint
from .families import MODEL_INPUTS


def default_layer(num_layers: int | None) -> int:
    """XTREME's layer: 8 of 12 (base) and 14 of 24 (large); other depths: two thirds, rounded."""
    if not num_layers:
        return 8
    return {12: 8, 24: 14}.get(num_layers, max(1, round(num_layers * 2 / 3)))


class Embedder:
    """Embeds texts with one model, layer and pooling; remembers the last arrays it embedded."""

    MEMORY = 2  # a LAReQA pool and one language's questions; a BUCC corpus is never held twice

    def __init__(self, model, tokenizer, engine, layer: int, pooling: str = "mean", dtype: str = "auto",
                 cache_dir: str | os.PathLike | None = None):
        self.model, self.tokenizer, self.engine = model, tokenizer, engine
        self.layer, self.pooling, self.dtype = layer, pooling, dtype
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()  # the last few arrays, see MEMORY

    def key(self, texts: Sequence[str], max_length: int) -> str:
        """Model (path, config, weights), layer, pooling, dtype, length and the texts themselves."""
        h = hashlib.sha256()
        path = getattr(self.model, "name_or_path", "") or ""
        h.update(json.dumps([path, self.model.config.to_json_string(), self.layer, self.pooling, self.dtype],
                            sort_keys=True).encode())
        if max_length != 512:
            h.update(f"max_length={max_length}".encode())
        if path and Path(path).is_dir():
            h.update(json.dumps(folder_fingerprint(path)).encode())
        for s in texts:
            h.update(hashlib.sha256(s.encode("utf-8")).digest())
        return h.hexdigest()

    def __call__(self, texts: Sequence[str], max_length: int = 512, desc: str = "") -> np.ndarray:
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
            emb = embed(texts, self.model, self.tokenizer, self.engine, self.layer, self.pooling, max_length, desc)
            if cache_file is not None:
                buf = io.BytesIO()
                np.save(buf, emb, allow_pickle=False)
                atomic_write_bytes(cache_file, buf.getvalue())
        self._memory[key] = emb
        while len(self._memory) > self.MEMORY:
            self._memory.popitem(last=False)
        return emb


def embed(texts: Sequence[str], model, tokenizer, engine, layer: int, pooling: str = "mean", max_length: int = 512,
          desc: str = "") -> np.ndarray:
    """Float32 embeddings, one row per text, in input order (no caching)."""
    from .engine import cls_pool, mean_pool

    texts = list(texts)
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in MODEL_INPUTS if k in enc]
    feats = [{k: enc[k][i] for k in keys} for i in range(len(texts))]

    def forward(m, batch):
        out = m(**batch, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        pooled = cls_pool(hidden) if pooling == "cls" else mean_pool(hidden, batch["attention_mask"])
        return {"embedding": pooled}

    outs = engine.run(model, feats, forward, desc=desc, token_keys=[])
    dim = model.config.hidden_size
    return np.stack([o["embedding"] for o in outs]).astype("float32") if outs else np.zeros((0, dim), "float32")


__all__ = ["Embedder", "default_layer", "embed"]
