"""The fast in-memory path: the deterministic head of the pipeline runs once and is cached as one tensor;
the rest runs per batch on the whole batch (RandomCrop with padding and the flips as vectorized tensor
ops, later deterministic steps such as Normalize through torchvision on the batch). Batches are slices of
the sampler's permutation; no per-sample indexing, no collate.

Same semantics as the DataLoader path: the same sampler decides the order and draws from the same
generator in the same order (the DataLoader's base seed first), so a deterministic pipeline yields
exactly the DataLoader's batches. Random crops and flips draw their parameters from that generator too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as TF
from torch.utils.data import RandomSampler, SequentialSampler
from torchvision.transforms.v2 import functional as F

from ...env import one_cpu_thread
from ...errors import DataError, fmt_shape
from .pipeline import Pipeline, Step, _pair, as_image
from .sanity import check_finite
from .sources import TensorSet

_PAD_MODES = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}
CHUNK = 1024
SMALL_BATCH = 1 << 22   # elements: CPU batches up to this size are assembled on one thread


def why_not(pipeline: Pipeline) -> str:
    """Empty when every random step after the cached head has a vectorized form; else the reason."""
    for s in pipeline.steps:
        if s.random and not s.vectorized:
            return f"{s.where} is random and has no vectorized form"
        if s.type == "RandomCrop" and (s.params.get("padding_mode") not in _PAD_MODES or s.params.get("pad_if_needed")):
            return f"{s.where}: padding_mode {s.params.get('padding_mode')!r} / pad_if_needed has no vectorized form"
    return ""


def split(pipeline: Pipeline) -> tuple[list[Step], list[Step]]:
    """(head, tail): head = the deterministic steps before the first random one."""
    k = next((i for i, s in enumerate(pipeline.steps) if s.random), len(pipeline.steps))
    return pipeline.steps[:k], pipeline.steps[k:]


def _apply(steps, x):
    for s in steps:
        x = s.fn(x)
    return x


def materialize(dataset, indices: torch.Tensor, head: list[Step]) -> tuple[torch.Tensor, torch.Tensor]:
    """The head applied to every sample, stacked: (x (N, ...), y (N, ...)).

    A TensorSet runs the head on chunks of images at once (v2 kernels treat leading dims as a batch);
    any other dataset (ImageFolder) one sample at a time."""
    if isinstance(dataset, TensorSet):
        xs = []
        for c in indices.split(CHUNK):
            x = dataset.x[c]
            xs.append(_apply(head, as_image(x)).as_subclass(torch.Tensor) if dataset.image else x)
        return (torch.cat(xs) if xs else dataset.x[:0]), dataset.y[indices]
    xs, ys = [], []
    for i in indices.tolist():
        x, y = dataset[i]
        x = _apply(head, x)
        if not isinstance(x, torch.Tensor):
            x = F.to_image(x)
        xs.append(x.as_subclass(torch.Tensor))
        ys.append(torch.as_tensor(y))
    same_shapes(xs)
    return torch.stack(xs), torch.stack(ys)


def same_shapes(xs) -> None:
    """DataError naming two different sample shapes, if there are any."""
    shapes = sorted({fmt_shape(x.shape) for x in xs})
    if len(shapes) > 1:
        raise DataError(f"samples of different shapes, {shapes[0]} and {shapes[1]}", "data",
                        "add a Resize (or a crop) to the end of both pipelines so that all samples have one size")


def random_crop(x: torch.Tensor, s: Step, g: torch.Generator) -> torch.Tensor:
    p = s.params.get("padding") or 0
    if p:
        mode = _PAD_MODES[s.params["padding_mode"]]
        if mode == "constant":
            x = TF.pad(x, (p, p, p, p), value=float(s.params["fill"] or 0))
        else:
            x = TF.pad(x.float(), (p, p, p, p), mode=mode).to(x.dtype)
    b, c, h, w = x.shape
    th, tw = _pair(s.params["size"])
    i = torch.randint(0, h - th + 1, (b,), generator=g).to(x.device)
    j = torch.randint(0, w - tw + 1, (b,), generator=g).to(x.device)
    ar = torch.arange
    base = (ar(b * c, device=x.device) * (h * w)).view(b, c, 1, 1)          # flat offset of each image plane
    rows = ((i[:, None] + ar(th, device=x.device)) * w)[:, None, :, None]
    cols = (j[:, None] + ar(tw, device=x.device))[:, None, None, :]
    return x.contiguous().view(-1).take(base + rows + cols)                # (b, c, th, tw) in one gather


def flip(x: torch.Tensor, s: Step, g: torch.Generator) -> torch.Tensor:
    dim = -1 if s.type == "RandomHorizontalFlip" else -2
    m = (torch.rand(x.shape[0], generator=g) < s.params["p"]).to(x.device)
    return torch.where(m.view(-1, *([1] * (x.ndim - 1))), x.flip(dim), x)


_OPS = {"RandomCrop": random_crop, "RandomHorizontalFlip": flip, "RandomVerticalFlip": flip}


def run_tail(tail: list[Step], x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    for s in tail:
        if s.random:
            x = _OPS[s.type](x, s, g)
        else:
            x = s.fn(as_image(x)).as_subclass(torch.Tensor)
    return x


class FastLoader:
    """Iterable of (x, y) batches over cached tensors, ordered by ``sampler``; len() is the number of batches."""

    def __init__(self, x, y, tail, batch_size, drop_last, sampler, generator, draws_base_seed):
        self.x, self.y, self.tail = x, y, tail
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.generator, self.draws_base_seed = sampler, generator, draws_base_seed

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def to(self, device) -> FastLoader:
        self.x, self.y = self.x.to(device), self.y.to(device)
        return self

    def __iter__(self):
        g = self.generator
        if self.draws_base_seed:   # what DataLoader.__iter__ draws from its generator before sampling
            torch.empty((), dtype=torch.int64).random_(generator=g)
        order = torch.as_tensor(list(self.sampler), dtype=torch.int64).to(self.x.device)
        bs = self.batch_size
        one = self.x.device.type == "cpu" and bs * self.x[0].numel() <= SMALL_BATCH
        for k in range(len(self)):
            b = order[k * bs:(k + 1) * bs]
            with one_cpu_thread(one):      # too small to gain from intra-op threads (the model keeps torch's)
                x = self.x[b]
                x, y = (run_tail(self.tail, x, g) if self.tail else x), self.y[b]
            yield x, y


DEFAULT_BATCH_SIZE = 64   # fit(model=..., train=(x, y)): DataSpec's default batch size


def tensor_loader(x, y, batch_size: int = DEFAULT_BATCH_SIZE, shuffle: bool = False, generator=None,
                  drop_last: bool = False, where: str = "train") -> FastLoader:
    """The batches of ``DataLoader(TensorDataset(x, y), batch_size, shuffle, generator=generator,
    drop_last=drop_last)``, sliced from ``x`` and ``y`` at once (no per-sample indexing, no collate).

    The same draws in the same order: the DataLoader's base seed first (from ``generator``, or from torch's
    global RNG when it is None, as the DataLoader does), then the RandomSampler's permutation."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise DataError(f"{name} must be a torch.Tensor, got {type(t).__name__}", f"fit({where}=(x, y))",
                            "pass tensors, e.g. torch.as_tensor(array), or a DataLoader")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise DataError(f"x and y must have as many samples, got {_shape_of(x)} and {_shape_of(y)}",
                        f"fit({where}=(x, y))", "give one target per sample: len(x) == len(y)")
    if len(x) == 0:
        raise DataError("no samples", f"fit({where}=(x, y))", "pass tensors with at least one sample")
    check_finite(x, f"fit({where}=(x, y))")
    n = _Count(len(x))
    sampler = RandomSampler(n, generator=generator) if shuffle else SequentialSampler(n)
    return FastLoader(x, y, [], batch_size, drop_last, sampler, generator, draws_base_seed=True)


def _shape_of(t) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


class _Count:
    """What a sampler needs of a dataset: its length."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n
