"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import os
import platform


def loadavg() -> float | None:
    """One-minute load average: benchmarks on a shared machine say how shared it was."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def machine(device) -> str:
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    return f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"


# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by device name, for model FLOPs utilisation (MFU).
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def peak_tflops(device, override: float | None = None) -> float | None:
    """The device's bf16 peak in TFLOP/s (``override`` wins); None where unknown (CPUs)."""
    if override:
        return override
    if getattr(device, "type", "") != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def encoder_flops(hidden: int, layers: int, intermediate: int, lengths) -> float:
    """Forward FLOPs of a BERT/XLM-R encoder over sequences of the given real lengths (2 FLOPs a multiply-add):
    per layer and sequence of n tokens, 8nd^2 for Q, K, V and the output projection, 4nd*d_ff for the
    feed-forward, 4n^2d for the attention scores and their weighted sum. Embedding lookups and the small
    heads are left out; padding is not counted (MFU counts useful work)."""
    import numpy as np

    n = np.asarray(lengths, dtype=np.float64)
    d, f = float(hidden), float(intermediate)
    per_layer = 8 * n * d * d + 4 * n * d * f + 4 * n * n * d
    return float(layers * per_layer.sum())
