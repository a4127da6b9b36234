"""Which task and which examples each micro-batch holds: a pure function of the seed.

Every micro-batch is addressed by its global index ``m``. The task of ``m`` is
drawn once, up front, from the mixing distribution; the examples come from a
per-task, per-pass permutation seeded by (seed, task, pass). Nothing depends on
the global RNG or on iteration state, so a run resumed at step k sees exactly
the batches the uninterrupted run would have seen, on any number of processes.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

SAMPLING = ("proportional", "temperature", "uniform")


def mixing_weights(sizes: Sequence[int], sampling: str = "proportional", temperature: float = 1.0) -> np.ndarray:
    """p_i ∝ n_i (proportional), n_i^(1/T) (temperature) or 1 (uniform)."""
    n = np.asarray(sizes, dtype=np.float64)
    if sampling == "uniform":
        w = np.ones_like(n)
    elif sampling == "temperature":
        with np.errstate(over="ignore"):
            w = n ** (1.0 / float(temperature))
        if not np.isfinite(w).all():  # a temperature near 0 overflows: the same weights, in log space
            logs = np.where(n > 0, np.log(np.maximum(n, 1)) / float(temperature), -np.inf)
            w = np.exp(logs - logs.max())
    elif sampling == "proportional":
        w = n.copy()
    else:
        raise ValueError(f"unknown sampling '{sampling}' (expected one of: {', '.join(SAMPLING)})")
    w[n == 0] = 0
    return w / w.sum()


class BatchPlan:
    """Micro-batch ``m`` -> (task index, example indices of the global micro-batch)."""

    def __init__(self, sizes: Sequence[int], probs: Sequence[float], micro_batch: int, total_micro: int, seed: int):
        self.sizes = [int(s) for s in sizes]
        self.micro_batch = int(micro_batch)
        self.seed = int(seed)
        self.total = int(total_micro)
        probs = np.asarray(probs, dtype=np.float64)
        if len(self.sizes) == 1:
            self.tasks = np.zeros(self.total, dtype=np.int32)
        else:
            rng = np.random.default_rng([self.seed, 7919])
            self.tasks = rng.choice(len(self.sizes), size=self.total, p=probs / probs.sum()).astype(np.int32)
        # k-th draw of its task: the k-th batch that task serves
        self.rank = np.zeros(self.total, dtype=np.int64)
        for t in range(len(self.sizes)):
            where = np.flatnonzero(self.tasks == t)
            self.rank[where] = np.arange(len(where))
        self._perm: dict[tuple[int, int], np.ndarray] = {}

    def batches_per_pass(self, task: int) -> int:
        return max(1, math.ceil(self.sizes[task] / self.micro_batch))

    def _permutation(self, task: int, npass: int) -> np.ndarray:
        key = (task, npass)
        if key not in self._perm:
            if len(self._perm) > 8:
                self._perm.clear()
            self._perm[key] = np.random.default_rng([self.seed, task, npass]).permutation(self.sizes[task])
        return self._perm[key]

    def micro(self, m: int) -> tuple[int, list[int]]:
        """The task and the example indices of micro-batch ``m`` (a full batch: the last one of a
        pass is topped up from the start of the same permutation)."""
        t = int(self.tasks[m])
        k = int(self.rank[m])
        nb = self.batches_per_pass(t)
        npass, j = divmod(k, nb)
        perm = self._permutation(t, npass)
        idx = perm[j * self.micro_batch:(j + 1) * self.micro_batch]
        if len(idx) < self.micro_batch:
            idx = np.concatenate([idx, perm[:self.micro_batch - len(idx)]])
            if len(idx) < self.micro_batch:  # fewer examples than one batch
                idx = np.resize(perm, self.micro_batch)
        return t, [int(i) for i in idx]


def shard(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """This process's share of a global micro-batch."""
    return list(indices[rank::world])
