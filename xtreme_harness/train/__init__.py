"""STILTs training: pretrained encoder -> English intermediate task(s) -> English XTREME targets.

``run(recipe, out)`` writes a suite that ``xtreme-eval --model OUT`` takes as
is; see :mod:`.pipeline` for the layout, :mod:`.recipes` for the recipe
format and :mod:`.loop` for the resumable training loop.
"""

from __future__ import annotations

from .loop import Hyper
from .recipes import TARGETS, Recipe, load_recipe, recipe_from_text, validate_recipe


def run(recipe, out, options=None):
    """Run or resume a recipe; see :func:`xtreme_harness.train.pipeline.run`."""
    from .pipeline import run as _run

    return _run(recipe, out, options)


__all__ = ["Hyper", "Recipe", "TARGETS", "load_recipe", "recipe_from_text", "run", "validate_recipe"]
