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
