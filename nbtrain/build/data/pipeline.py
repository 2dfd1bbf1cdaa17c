"""A list of TransformSpec as a torchvision.transforms.v2 pipeline, checked on a real sample.

Each step keeps its spec, its place (``data.train_transforms[1] (RandomCrop)``) and whether it is random.
``check`` walks one sample through the steps so that a wrong Normalize length, a crop larger than the
image or a transform in the wrong place is reported before training, naming the step. A pipeline that
leaves integer images (no ToTensor) ends with an implied ToTensor, so the model always sees floats.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ...errors import DataError, NbtrainError
from ...spec.catalog.transforms import to_tensor


@dataclass
class Step:
    type: str
    params: dict          # the merged kwargs (defaults + spec params), torch form
    fn: object            # the torchvision transform
    random: bool
    vectorized: bool
    where: str


class Pipeline:
    """Callable: applies the steps in order; ``steps`` are inspected by the fast path."""

    def __init__(self, steps: list[Step]):
        self.steps = steps

    def __call__(self, x):
        for s in self.steps:
            x = s.fn(x)
        return x.as_subclass(torch.Tensor) if isinstance(x, torch.Tensor) else x

    @property
    def random(self) -> bool:
        return any(s.random for s in self.steps)


def build_pipeline(specs, field: str, allow_random: bool) -> Pipeline:
    steps = []
    for i, t in enumerate(specs):
        e = t.entry()
        where = f"data.{field}[{i}] ({t.type})"
        random = "random" in e.tags
        if random and not allow_random:
            raise DataError("random transform in the validation pipeline", where,
                            "remove it from val_transforms, or set random_val=True to allow it")
        kw = t.kwargs(f"data.{field}[{i}]")
        try:
            fn = e.build(**kw)
        except (ValueError, TypeError) as err:
            raise DataError(str(err), where, "check its parameters") from None
        steps.append(Step(t.type, kw, fn, random, "vectorized" in e.tags, where))
    return Pipeline(steps)


def _pair(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(size)
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


def _precheck(s: Step, x) -> None:
    """Checks torchvision would report late or not at all, with a message that says what to change."""
    c, h, w = F.get_dimensions(x)
    if s.type == "Normalize":
        if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
            got = x.dtype if isinstance(x, torch.Tensor) else "a PIL image"
            raise DataError(f"needs a float tensor image, got {str(got).replace('torch.', '')}", s.where,
                            "put ToTensor before Normalize")
        m, sd = len(s.params["mean"]), len(s.params["std"])
        if m != c or sd != c:
            raise DataError(f"mean has {m} and std has {sd} values for {c}-channel images", s.where,
                            f"give {c} value{'s' if c > 1 else ''} each, one per channel "
                            "(nbtrain.normalize_stats computes them)")
    elif s.type in ("CenterCrop", "RandomCrop"):
        th, tw = _pair(s.params["size"])
        pad = s.params.get("padding") or 0
        if s.type == "RandomCrop" and s.params.get("pad_if_needed"):
            return
        if th > h + 2 * pad or tw > w + 2 * pad:
            size = f"{h}x{w}" + (f" (padded to {h + 2 * pad}x{w + 2 * pad})" if pad else "")
            raise DataError(f"crop {th}x{tw} is larger than the {size} image", s.where,
                            f"set size <= {min(h, w) + 2 * pad}, or Resize before it")


def check(pipeline: Pipeline, x):
    """Run ``x`` through the steps, raising DataError at the first that fails; returns the output.

    Appends the implied ToTensor when the output is still an integer (or PIL) image. Random steps draw
    from a forked RNG, so checking a pipeline never moves the global random state (model init after
    build_data is the same whatever the pipeline holds)."""
    with torch.random.fork_rng(devices=[]):
        for s in pipeline.steps:
            _precheck(s, x)
            try:
                x = s.fn(x)
            except NbtrainError:
                raise
            except Exception as err:
                raise DataError(str(err).strip().splitlines()[0], s.where,
                                "check its parameters and its place in the pipeline") from None
    if not (isinstance(x, torch.Tensor) and x.is_floating_point()):
        s = Step("ToTensor", {}, to_tensor(), False, False, "implied ToTensor")
        pipeline.steps.append(s)
        x = s.fn(x)
    return x.as_subclass(torch.Tensor)


def as_image(x) -> tv_tensors.Image:
    """A batch or a sample as a tv_tensors.Image, so v2 transforms treat it as image data."""
    return x if isinstance(x, tv_tensors.Image) else tv_tensors.Image(x)
