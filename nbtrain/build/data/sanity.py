"""Checks on the data made once, when it is built (never per batch): values that are not finite, the range of the
labels, symlink loops in an image folder.

- ``check_finite``: the float tensors given to fit (``train=(x, y)``, ``val=``) holding NaN or inf (one vectorized
  sum in float64, which finite values cannot overflow; integer tensors cannot hold them and are not read). NaN in the
  validation inputs used to end a run "finished" with val_loss nan and no word. Spec-built data needs no such pass:
  CSV cells are checked as they are read, the built-in sets hold none; a DataLoader's NaN shows in the validation
  loss (nbtrain.sinks.nan_guard says so at the epoch end).
- ``label_bounds``: the smallest and largest class index of each split whose labels are at hand (the in-memory
  path's cached ``y``, a dataset's ``targets``); the first-batch check compares them with the model's output size
  (nbtrain.train.steps.check_batch), so a label out of range anywhere, validation included, is found before training.
- ``check_links``: an image folder is read as torchvision's ImageFolder reads it (symbolic links to folders
  followed, so a class folder may link elsewhere), but a link that leads back to a folder already read (a loop:
  8 images counted as 168) is one error naming the link.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ...errors import DataError


def check_finite(x, where: str) -> None:
    """One DataError when the float tensor ``x`` holds NaN or inf: how many samples, the first, the fix."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or not x.numel():
        return
    if math.isfinite(float(x.sum(dtype=torch.float64))):   # one pass, no temporary: NaN and inf make the sum so
        return
    finite = torch.isfinite(x.reshape(len(x), -1)).all(dim=1) if x.ndim else torch.isfinite(x).reshape(1)
    bad = (~finite).nonzero().flatten()
    raise DataError(f"{len(bad)} of {len(x)} samples {'holds' if len(bad) == 1 else 'hold'} NaN or inf values (the first: "
                    f"sample {int(bad[0])})", where,
                    "clean the data before training: drop those samples, or fill the gaps (torch.nan_to_num(x), "
                    "pandas' fillna)")


def _targets(loader):
    y = getattr(loader, "y", None)            # the in-memory path's cached labels
    if isinstance(y, torch.Tensor):
        return y
    targets = getattr(getattr(loader, "dataset", None), "targets", None)   # ImageFolder, torchvision sets
    if isinstance(targets, (list, tuple, torch.Tensor)):
        try:
            return torch.as_tensor(targets)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def label_bounds(loaders: dict) -> dict:
    """``{split: (lowest, its sample, highest, its sample)}`` of class-index labels (1-D integer tensors)."""
    out = {}
    for split, loader in loaders.items():
        y = _targets(loader) if loader is not None else None
        if y is None or y.ndim != 1 or not y.numel() or y.is_floating_point() or y.dtype == torch.bool:
            continue
        lo, hi = int(y.argmin()), int(y.argmax())
        out[split] = (int(y[lo]), lo, int(y[hi]), hi)
    return out


def check_links(root: Path, where: str) -> None:
    """A folder reached twice while walking ``root`` as ImageFolder does (links followed) is one DataError."""
    seen: dict[str, str] = {}
    for folder, _dirs, _files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            link = next((p for p in [Path(folder), *Path(folder).parents] if p.is_symlink()), Path(folder))
            raise DataError(f"the symbolic link {str(link)!r} leads to {seen[real]!r}, a folder read already, so its "
                            "images would count again (a link loop)", where,
                            f"remove the link, or point it to a folder outside {str(root)!r}")
        seen[real] = folder
