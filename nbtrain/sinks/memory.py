"""GPU memory, read when a display updates (never per step): the dashboard's memory line and the doctor's rule.

``torch.cuda.memory_allocated`` and friends read the caching allocator's counters on the host: no device sync.
On a CPU (or MPS) run there is nothing to read and nothing is shown.
"""
from __future__ import annotations

import torch

NEAR = 0.9                 # the doctor speaks when the peak allocated memory passes this fraction of the device's


def cuda_memory(device) -> dict | None:
    """``{"allocated", "reserved", "peak", "total"}`` in bytes for a CUDA device, else None."""
    if device is None:
        return None
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        return None
    return {"allocated": int(torch.cuda.memory_allocated(dev)), "reserved": int(torch.cuda.memory_reserved(dev)),
            "peak": int(torch.cuda.max_memory_allocated(dev)),
            "total": int(torch.cuda.get_device_properties(dev).total_memory)}


def gib(n: int) -> str:
    """Bytes as GiB with 2 decimals (MiB below 1 GiB)."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def memory_line(mem: dict | None) -> str:
    """``GPU memory 1.20 GiB allocated · 1.50 GiB reserved · peak 1.30 GiB of 79.19 GiB``, or "" without one."""
    if not mem:
        return ""
    return (f"GPU memory {gib(mem['allocated'])} allocated · {gib(mem['reserved'])} reserved · "
            f"peak {gib(mem['peak'])} of {gib(mem['total'])}")


def near_limit(mem: dict | None, batch_size=None, near: float = NEAR) -> str:
    """The doctor's warning when the peak is within ``1 - near`` of the device's total, else ""."""
    if not mem or not mem.get("total") or mem["peak"] < near * mem["total"]:
        return ""
    half = f"data.batch_size={max(1, batch_size // 2)}" if batch_size else "a smaller data.batch_size"
    return (f"the GPU memory peaked at {gib(mem['peak'])}, {mem['peak'] / mem['total']:.0%} of the device's "
            f"{gib(mem['total'])}, so a larger batch or model will run out of memory (train in mixed precision with "
            f"loop.amp='bf16' (or 'fp16'), or halve the batch: {half})")
