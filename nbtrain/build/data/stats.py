"""normalize_stats (per-channel mean and std for Normalize) and sample_grid (a make_grid of training samples)."""
from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F
from torchvision.utils import make_grid

from ...errors import DataError
from ...spec.base import SpecBase
from . import fast
from .bundle import prepare


def _channel_stats(x: torch.Tensor) -> tuple[list, list]:
    """Mean and (population) std per channel of (N, C, ...) or per feature of (N, F)."""
    x = x.double()
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)
    return [round(v, 4) for v in flat.mean(1).tolist()], [round(v, 4) for v in flat.std(1, unbiased=False).tolist()]


def normalize_stats(data_spec_or_dataset) -> tuple[list, list]:
    """Per-channel (mean, std) to give Normalize, rounded to 4 decimals.

    For a DataSpec: over its training split, as Normalize sees it: through the validation pipeline's steps
    before its first Normalize (ToTensor implied). For a Dataset of (x, y) or a tensor (N, C, H, W): over all
    of it, integer images scaled to [0, 1] as ToTensor does."""
    if isinstance(data_spec_or_dataset, SpecBase) and hasattr(data_spec_or_dataset, "dataset"):   # a DataSpec
        return _spec_stats(data_spec_or_dataset)
    if isinstance(data_spec_or_dataset, torch.Tensor):
        return _channel_stats(_float(data_spec_or_dataset))
    if isinstance(data_spec_or_dataset, Dataset) or hasattr(data_spec_or_dataset, "__getitem__"):
        xs = [_float(data_spec_or_dataset[i][0]) for i in range(len(data_spec_or_dataset))]
        return _channel_stats(torch.stack(xs))
    raise DataError(f"cannot compute statistics of a {type(data_spec_or_dataset).__name__}", "normalize_stats",
                    "pass a DataSpec, a Dataset of (x, y) or a tensor (N, C, H, W)")


def _float(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = F.to_image(x)
    x = x.as_subclass(torch.Tensor)
    return x if x.is_floating_point() else F.to_dtype(x, torch.float32, scale=True)


def _spec_stats(spec) -> tuple[list, list]:
    head = []
    for t in spec.val_transforms:
        if t.type == "Normalize":
            break
        head.append(t)
    p = prepare(spec, val_transforms=head)
    x, _ = fast.materialize(p.train_set.base, p.train_set.indices, p.val_set.pipeline.steps)
    return _channel_stats(x)


def sample_grid(data_spec, n: int = 16) -> torch.Tensor:
    """A (3, H, W) float image in [0, 1]: n training samples drawn through the train pipeline (random transforms
    seeded by data_spec.seed), laid out by torchvision.utils.make_grid, each scaled to its own value range."""
    if n < 1:
        raise DataError(f"n must be >= 1, got {n}", "sample_grid", "ask for at least one sample")
    p = prepare(data_spec)
    if p.src.kind != "image":
        raise DataError(f"{data_spec.dataset!r} is tabular, not images", "sample_grid", "use an image dataset")
    n = min(n, len(p.train_set))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(data_spec.seed)
        x = torch.stack([p.train_set[i][0] for i in range(n)])
    return make_grid(x, nrow=math.ceil(math.sqrt(n)), normalize=True, scale_each=True, pad_value=1.0)
