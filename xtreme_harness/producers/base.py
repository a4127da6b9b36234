"""The producer protocol: whatever turns examples into predictions, behind one interface.

A producer answers ``predict(spec, lang, examples, settings)`` with the task
family's :class:`~xtreme_harness.families.Predictions`, one (task, language) at
a time. The run loop (:mod:`xtreme_harness.run`) owns everything around it:
planning languages, reading the data (and recording what was read), resume,
scoring, writing and ``results.json``. Producers are transformers checkpoints
with task heads (:mod:`.native`), sentence-transformers models for the
retrieval tasks (:mod:`.sentence_transformers`), lm-eval models
(:mod:`xtreme_harness.lmeval.producer`) and, for dev scoring, the trainer's
model.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from ..families import Predictions, Settings
from ..spec import TaskSpec


class Producer(Protocol):
    needs_gold: bool  # it can only be scored on labelled data (lm-eval scores inside its own run)

    def prepare(self, specs: Sequence[TaskSpec]) -> dict[str, str]:
        """Decide which tasks it serves; the others, each with the reason, are returned (and skipped)."""
        ...

    def defaults(self) -> dict[str, Any]:
        """Option values it brings (a manifest's ``defaults``), for the options a user left at their default."""
        ...

    def model_info(self) -> dict[str, Any]:
        """What ``results.json`` records as its ``model``."""
        ...

    def identity(self, spec: TaskSpec) -> Any:
        """What a task's predictions depend on besides its data and settings (the checkpoint, by content):
        part of the resume key."""
        ...

    def predict(self, spec: TaskSpec, lang: str, examples: Any, settings: Settings) -> Predictions: ...

    # Optional: ``prefetch(spec, lang, examples, settings) -> None`` prepares what ``predict`` will need for
    # these examples (features), called by the run loop in a thread while the model runs on the unit
    # before; it must not touch the model. Producers without it get only the next unit's data read ahead.
    # Optional: ``warm(spec) -> None`` loads what serves ``spec`` (the model), called by the run loop while
    # that thread featurises a unit that will be computed.

    def close(self) -> None: ...
