"""Task families: the only place where task types differ in code.

Each family module turns typed examples into model features (``featurize``)
and model outputs back into task predictions (``decode``). Both are pure
functions over examples and a fast tokenizer, so the engine and the trainer
share them and they can be tested without a model. Retrieval lives elsewhere.
"""

from __future__ import annotations

from typing import Any


# Feature keys a model's forward takes; every other key is bookkeeping for decode.
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Training targets, named as Hugging Face heads expect them.
TRAIN_TARGETS = ("labels", "start_positions", "end_positions")


class FeatureList(list):
    """A plain list of feature dicts that also carries featurisation counts.

    Being a list keeps batching code simple; ``stats`` lets the runner report
    truncation, windowing and odd tokens instead of hiding them.
    """

    def __init__(self, features=(), stats: dict[str, int] | None = None):
        super().__init__(features)
        self.stats: dict[str, int] = dict(stats or {})


def require_fast(tokenizer: Any) -> None:
    """Offsets and word ids only exist on fast (Rust-backed) tokenizers."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"a fast tokenizer is needed (got {type(tokenizer).__name__}); "
                        "load it with use_fast=True or from a tokenizer.json")


from . import classification, qa, tagging  # noqa: E402

FAMILIES = {"classification": classification, "tagging": tagging, "qa": qa}

__all__ = ["FAMILIES", "MODEL_INPUTS", "TRAIN_TARGETS", "FeatureList", "classification", "qa", "require_fast", "tagging"]
