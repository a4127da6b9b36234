"""What training adds to a task family: the task's training set, MLM batches, and English-dev scoring.

Features, batches and dev predictions all come from the task's family
(:mod:`xtreme_harness.families`), so train and test inputs are built the same
way (same templates, truncation and windows) and dev figures are computed by
the same ``predict`` and metric functions as ``xtreme-eval``'s. What is left
here is training-only: the MLM batches and their masking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..families import FAMILIES, pad_rows
from ..families.tagging import IGNORE_INDEX
from ..families.tokens import call
from ..io.errors import UserError
from ..spec import TaskSpec


@dataclass
class TaskData:
    """One task of a training phase: its spec, head, featurized training set and dev set (``kind``: a family
    name, or ``mlm``)."""

    name: str
    kind: str
    labels: list[str] | None
    features: list[dict]
    spec: TaskSpec | None = None
    dev_examples: list | None = None
    max_length: int = 256
    doc_stride: int = 128
    max_query_length: int = 64
    provenance: list[dict] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return len(self.labels or ())

    def settings(self):
        """The family's settings at this task's training lengths (dev scoring featurises as training does)."""
        return FAMILIES[self.kind].settings(self.spec, {"max_length": self.max_length, "doc_stride": self.doc_stride,
                                                        "max_query_length": self.max_query_length})


def train_features(spec: TaskSpec, examples: Sequence, tokenizer: Any, labels: Sequence[str] | None, settings):
    try:
        return FAMILIES[spec.family].train_features(spec, examples, tokenizer, settings, labels)
    except ValueError as exc:  # e.g. a max_length too short for the question and special tokens
        raise UserError(f"cannot build {spec.family} training features for {spec.task}: {exc}") from None


def mlm_features(lines: Sequence[str], tokenizer: Any, max_length: int) -> list[dict]:
    enc = call(tokenizer, list(lines), truncation=True, max_length=max_length)
    return [{"input_ids": list(ids)} for ids in enc["input_ids"] if len(ids) > 2]


def collate(kind: str, feats: Sequence[dict], pad_id: int, mlm: dict | None = None,
            rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """Pad a list of training features to the longest in the batch (dynamic padding)."""
    if kind != "mlm":
        return FAMILIES[kind].collate(feats, pad_id)
    batch = {"input_ids": pad_rows([f["input_ids"] for f in feats], pad_id),
             "attention_mask": pad_rows([[1] * len(f["input_ids"]) for f in feats], 0)}
    batch["input_ids"], batch["labels"] = mask_tokens(batch["input_ids"], batch["attention_mask"], mlm, rng)
    return batch


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, mlm: dict, rng: np.random.Generator):
    """BERT masking (15 %: 80 % mask token, 10 % random, 10 % kept) from a generator seeded per batch,
    so that a resumed run masks exactly as the uninterrupted one."""
    arr = ids.numpy().copy()
    special = np.isin(arr, np.asarray(mlm["special_ids"])) | (attention.numpy() == 0)
    pick = (rng.random(arr.shape) < mlm.get("probability", 0.15)) & ~special
    if not pick.any():  # at least one target per batch keeps the loss defined
        cand = np.argwhere(~special)
        if len(cand):
            r, c = cand[rng.integers(len(cand))]
            pick[r, c] = True
    labels = np.where(pick, arr, IGNORE_INDEX)
    roll = rng.random(arr.shape)
    arr[pick & (roll < 0.8)] = mlm["mask_id"]
    rand = pick & (roll >= 0.8) & (roll < 0.9)
    arr[rand] = rng.integers(0, mlm["vocab_size"], size=int(rand.sum()))
    return torch.from_numpy(arr), torch.from_numpy(labels)


class TrainingHead:
    """The model being trained, as a family runs a :class:`~xtreme_harness.families.Head`: each batch goes
    through ``model(task=..., **batch)``, the multi-task model's own head for this task."""

    def __init__(self, model, task: str, tokenizer, engine, labels):
        self.model, self.task, self.tokenizer, self.engine, self.labels = model, task, tokenizer, engine, labels

    def run(self, features, forward, desc="", token_keys=None, pad_to=None):
        task = self.task
        return self.engine.run(self.model, features, lambda m, batch: forward(lambda b: m(task=task, **b), batch),
                               desc=desc, token_keys=token_keys, pad_to=pad_to)


def score_dev(td: TaskData, model, tokenizer, engine) -> dict[str, float]:
    """Predict the dev set with the model being trained and score it as every producer's predictions are scored
    (:func:`xtreme_harness.tasks.scoring.score`); 'score' is the selection figure."""
    from ..metrics import METRICS
    from ..tasks.scoring import score

    exs = td.dev_examples or []
    if not exs:
        return {}
    head = TrainingHead(model, td.name, tokenizer, engine, dict(enumerate(td.labels or ())))
    predictions = FAMILIES[td.kind].predict(td.spec, exs, td.settings(), head, lang="en")
    _, state = score(td.spec, predictions)
    res = state.get("metrics") or {}
    return {**res, "score": res[METRICS[td.spec.metrics.official].headline]}
