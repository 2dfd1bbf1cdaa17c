"""Random number generator states: seeding, and snapshots as tensors and plain data (weights_only-safe).

A snapshot holds Python's, numpy's, torch's (CPU and every CUDA device) and, when given, a loader's
``torch.Generator`` state, so a checkpoint resumes the same random streams.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state(generator=None) -> dict:
    v, keys, gauss = random.getstate()
    kind, np_keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [v, torch.tensor(keys, dtype=torch.int64), gauss],    # one tensor, not 625 objects to pickle
        "numpy": [kind, torch.from_numpy(np_keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state() if generator is not None else None,
    }


def set_rng_state(rng: dict, generator=None) -> None:
    v, keys, gauss = rng["python"]
    random.setstate((v, tuple(keys.tolist() if isinstance(keys, torch.Tensor) else keys), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"].cpu())
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    if generator is not None and rng.get("generator") is not None:
        generator.set_state(rng["generator"].cpu())
