"""Data-parallel evaluation under torchrun or ``accelerate launch``.

Each process runs the engine on every ``world``-th feature and the outputs are
gathered back into input order, so decoding, metrics and files are exactly
those of a single-process run; only rank 0 writes. With one process nothing
here does anything.
"""

from __future__ import annotations

import os
from typing import Any, Sequence


def world() -> tuple[int, int]:
    """(rank, world size), starting the process group on first use when launched with several processes."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("XTREME_DIST_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


def local_device(device: str) -> str:
    """Under several processes on GPUs, each process takes its own GPU."""
    if world()[1] > 1 and device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


class ShardedEngine:
    """Wraps an InferenceEngine: shard the features by rank, run, gather in input order."""

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def run(self, model, features: Sequence[Any], *args, **kwargs) -> list[Any]:
        rank, size = world()
        if size <= 1:
            return self.engine.run(model, features, *args, **kwargs)
        import torch.distributed as dist

        from ..families.tokens import Columns, Rows

        mine = list(range(rank, len(features), size))
        if isinstance(features, Rows):  # columns: gathered row by row, then laid out as columns again
            cols = self.engine.run(model, features.take(mine), *args, **kwargs) if mine else None
            rows = [] if cols is None else [
                {k: part[j] for k, part in ((k, cols.per_row(k)) for k in cols.values)} for j in range(len(mine))]
            token = [] if cols is None else list(cols.token_keys)
            gathered: list[Any] = [None] * size
            dist.all_gather_object(gathered, (list(zip(mine, rows)), token))
            merged: list[Any] = [None] * len(features)
            token_keys: list[str] = []
            for part, keys in gathered:
                token_keys = token_keys or keys
                for i, out in part:
                    merged[i] = out
            return Columns.from_list(merged, token_keys)
        outs = self.engine.run(model, [features[i] for i in mine], *args, **kwargs) if mine else []
        gathered: list[Any] = [None] * size
        dist.all_gather_object(gathered, list(zip(mine, outs)))
        merged: list[Any] = [None] * len(features)
        for part in gathered:
            for i, out in part:
                merged[i] = out
        return merged
