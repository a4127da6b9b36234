"""Task families: one object per task type, and the only place where task types differ in code.

The interface and what families share are in :mod:`.base`; each family is one
module (classification, tagging, qa, multiple_choice, and the three retrieval
families: nearest_neighbour, bitext_mining, ranking). A task is a spec
(``tasks/*.yaml``) naming its family; task quirks are declared in the spec and
read by the family (Tatoeba's query side, BUCC's threshold split, LAReQA's
pooled candidates). A new family is a module here and one line below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .base import (
    MODEL_INPUTS,
    Encoder,
    Family,
    FeatureList,
    Head,
    Predictions,
    Settings,
    keep_logits,
    pad_rows,
    require_fast,
)
from .bitext_mining import BitextMining
from .classification import Classification
from .multiple_choice import MultipleChoice
from .nearest_neighbour import NearestNeighbour
from .qa import QA
from .ranking import Ranking
from .tagging import Tagging

if TYPE_CHECKING:
    from ..spec import TaskSpec

FAMILIES: dict[str, Family] = {cls.name: cls() for cls in (Classification, Tagging, QA, MultipleChoice,
                                                             NearestNeighbour, BitextMining, Ranking)}


def family_of(spec: TaskSpec) -> Family:
    return FAMILIES[spec.family]


def head_family(architectures: Sequence[str]) -> str | None:
    """The family whose head the architectures name (``XLMRobertaForTokenClassification`` -> tagging)."""
    for arch in architectures:
        for fam in FAMILIES.values():
            if fam.head and arch.endswith(fam.head):
                return fam.name
    return None


__all__ = ["Encoder", "FAMILIES", "Family", "FeatureList", "Head", "MODEL_INPUTS", "Predictions", "Settings",
           "family_of", "head_family", "keep_logits", "pad_rows", "require_fast"]
