"""What the three retrieval families share: no task head, an :class:`~.base.Encoder`, embedding lengths.

Tatoeba (:mod:`.nearest_neighbour`), BUCC (:mod:`.bitext_mining`) and LAReQA /
Mewsli-X (:mod:`.ranking`) embed sentences with any encoder and never load a
task head; what an encoder records of itself (layer and pooling, or a
sentence-transformers model's own modules) goes into each language's stats.
The spec's ``retrieval`` block holds each protocol's parameters.
"""

from __future__ import annotations

from typing import Any

from .base import Family


class Retrieval(Family):
    head = None
    auto_class = "AutoModel"
    defaults = {"max_length": 512}

    def count(self, examples):
        return examples.n

    @staticmethod
    def stats(encoder) -> dict[str, Any]:
        return dict(encoder.describe())
