"""Image transforms (torchvision.transforms.v2) a data pipeline can name.

Minimal table from the Spine issue; the Data issue completes it.
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2

from .params import P, Table, entry


def to_tensor():
    """The seed's ToTensor in the v2 API: ToImage then ToDtype(float32, scale=True)."""
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


TRANSFORMS = Table("transform", [
    entry("ToTensor", to_tensor, "image to a float tensor in [0, 1] (ToImage + ToDtype(float32, scale=True))", {}),
    entry("Resize", v2.Resize, "resize to size (int: the shorter side)", {
        "size": P("int_or_ints", "target size, int or [h, w]", low=1), "antialias": P("bool", "antialias")}),
    entry("Normalize", v2.Normalize, "(x - mean) / std per channel", {
        "mean": P("floats", "per-channel mean"), "std": P("floats", "per-channel std", low=0, low_open=True)}),
])
