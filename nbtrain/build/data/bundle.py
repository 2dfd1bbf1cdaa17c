"""build_data: a DataSpec to train and val loaders plus what the model and the loop need to know."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler, default_collate

from ...errors import DataError, fmt_shape
from ...spec.catalog import loss_kind
from . import fast
from .pipeline import Pipeline, build_pipeline, check
from .plain import binary_target, split_indices, standardize_stats
from .sources import Source, TensorSet, load_source

MEMORY_LIMIT = 4 << 30   # in_memory="auto": cache at most this many bytes


class Transformed(Dataset):
    """``base[indices[i]]`` with ``pipeline`` applied to its x: one split of a dataset with its own pipeline."""

    def __init__(self, base, indices: torch.Tensor, pipeline: Pipeline):
        self.base, self.indices, self.pipeline = base, indices, pipeline

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        x, y = self.base[int(self.indices[i])]
        return self.pipeline(x), y


def collate(batch):
    """default_collate, with a DataError when samples differ in shape (e.g. ImageFolder without a Resize)."""
    if batch and isinstance(batch[0][0], torch.Tensor):
        fast.same_shapes([x for x, _ in batch])
    return default_collate(batch)


@dataclass
class DataBundle:
    train: object                 # iterable of (x, y) batches with len(): a DataLoader or a FastLoader
    val: object
    input_shape: tuple            # one sample's shape, no batch dimension
    task: str                     # "classification", "binary" (float 0/1 targets (N, 1)) or "regression"
    num_classes: int              # classes (2 for binary), or the target width for regression
    class_names: list
    train_generator: torch.Generator
    train_set: Dataset            # per-sample views (pipeline applied), for probes and grids
    val_set: Dataset
    fast: bool = False            # the fast in-memory path is used
    why_not_fast: str = ""        # why not, when it is not
    samplers: list = field(default_factory=list)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle hook for distributed runs (DistributedSampler.set_epoch); no-op for one process."""
        for s in self.samplers:
            if isinstance(s, DistributedSampler):
                s.set_epoch(epoch)

    def probe(self, n: int = 8):
        """A fixed batch: the first n validation samples through the validation pipeline."""
        n = min(n, len(self.val_set))
        return default_collate([self.val_set[i] for i in range(n)])

    def to(self, device) -> "DataBundle":
        """Move the fast path's cached tensors to ``device`` (e.g. the GPU) when they fit in half of its free
        memory; no-op for the DataLoader path. Batches are then made on that device."""
        if not self.fast:
            return self
        device = torch.device(device)
        if device.type == "cuda":
            need = sum(t.numel() * t.element_size() for t in (self.train.x, self.train.y, self.val.x, self.val.y))
            if need > torch.cuda.mem_get_info(device)[0] // 2:
                return self
        self.train.to(device)
        self.val.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where batches are made: the fast path's cache device, else the CPU."""
        return self.train.x.device if self.fast else torch.device("cpu")


def _splits(spec, src: Source) -> tuple[Dataset, torch.Tensor, Dataset, torch.Tensor]:
    """(train base, train indices, val base, val indices)."""
    n = len(src.train)
    if spec.use_test_split:
        if src.test is None:
            raise DataError(f"{spec.dataset} has no test split", "data.use_test_split",
                            "set use_test_split=False to hold out val_split of the data")
        return src.train, torch.arange(n), src.test, torch.arange(len(src.test))
    tr, va = split_indices(n, spec.val_split, spec.seed)
    if len(tr) == 0 or len(va) == 0:
        raise DataError(f"val_split {spec.val_split:g} of {n} samples leaves an empty split", "data.val_split",
                        "choose a fraction that leaves samples on both sides")
    return src.train, tr, src.train, va


def _standardize(src: Source, train_idx: torch.Tensor) -> None:
    mean, std = standardize_stats(src.train.x, train_idx)
    src.train.x = (src.train.x - mean) / std
    if src.test is not None:
        src.test.x = (src.test.x - mean) / std


def _sampler(spec, n: int, train: bool, generator, rank: int, world_size: int):
    if world_size > 1:
        return DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=spec.shuffle and train,
                                  seed=spec.seed, drop_last=spec.drop_last and train)
    if spec.shuffle and train:
        return RandomSampler(range(n), generator=generator)
    return SequentialSampler(range(n))


def _use_fast(spec, src: Source, pipes, n_samples: int, sample_numel: int) -> str:
    """Empty when the fast path is valid (and, for auto, worth it); else why not."""
    if spec.in_memory == "off":
        return "in_memory='off'"
    for p in pipes:
        reason = fast.why_not(p)
        if reason:
            return reason
    if spec.in_memory == "auto":
        if not isinstance(src.train, TensorSet):
            return f"{spec.dataset} reads one file per sample (set in_memory='on' to cache it)"
        if n_samples * sample_numel * 4 > MEMORY_LIMIT:
            return "the cached tensors would exceed 4 GiB"
    return ""


def is_binary(spec, loss="") -> bool:
    """Whether the targets become float 0/1 of shape (N, 1): data.task 'binary', or a loss the catalog tags
    ``binary`` (BCEWithLogitsLoss, BCELoss; a name or a module)."""
    return spec.task == "binary" or loss_kind(loss) == "binary"


def to_binary(src: Source, where: str) -> None:
    """A two-class source's targets as float 0/1 (N, 1) (nbtrain.build.data.plain.binary_target); float (regression)
    targets are left as they are (soft labels in [0, 1] are fine for a binary loss)."""
    if src.task == "regression":
        return
    names = src.class_names
    if len(names) != 2:
        raise DataError(f"a binary task needs 2 classes, {src.name or 'the dataset'} has {len(names)} "
                        f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})", where,
                        "use CrossEntropyLoss (one output per class) for more classes, or a dataset with two")
    for ds in (src.train, src.test):
        if isinstance(ds, TensorSet):
            ds.y = binary_target(ds.y)
        elif ds is not None:                 # ImageFolder: per sample, as it reads each file
            ds.target_transform = binary_target
    src.task = "binary"


@dataclass
class Prepared:
    """A loaded source, its seeded split and its checked pipelines: what build_data, normalize_stats and
    sample_grid share."""
    src: Source
    train_set: Transformed
    val_set: Transformed
    sample: torch.Tensor          # the first training sample through the train pipeline


def prepare(spec, val_transforms=None, loss="") -> Prepared:
    """``loss``: the run's loss (a name or a module); a binary one makes the targets float (N, 1) (``is_binary``)."""
    spec.validate("data")
    src = load_source(spec)
    if is_binary(spec, loss):
        to_binary(src, "data.task" if spec.task == "binary" else "loop.loss")
    if src.kind == "tabular" and (spec.train_transforms or spec.val_transforms):
        field_ = "data.train_transforms" if spec.train_transforms else "data.val_transforms"
        raise DataError(f"image transforms do not apply to the tabular set {spec.dataset!r}", field_,
                        "clear train_transforms and val_transforms (standardize=True scales the features)")
    tr_base, tr_idx, va_base, va_idx = _splits(spec, src)
    if src.kind == "tabular" and spec.standardize:
        _standardize(src, tr_idx)
    tr_pipe = build_pipeline(spec.train_transforms, "train_transforms", allow_random=True)
    va_pipe = build_pipeline(spec.val_transforms if val_transforms is None else val_transforms, "val_transforms",
                             allow_random=spec.random_val)
    x_tr = check(tr_pipe, tr_base[int(tr_idx[0])][0])
    x_va = check(va_pipe, va_base[int(va_idx[0])][0])
    if val_transforms is None and tuple(x_tr.shape) != tuple(x_va.shape):
        if not isinstance(src.train, TensorSet):   # files of many sizes: not the pipelines' fault alone
            fast.same_shapes([x_tr, x_va])
        raise DataError(f"the train pipeline gives {fmt_shape(x_tr.shape)} samples, the val pipeline "
                        f"{fmt_shape(x_va.shape)}",
                        "data.val_transforms", "make both pipelines end at the same size (e.g. the same Resize)")
    return Prepared(src, Transformed(tr_base, tr_idx, tr_pipe), Transformed(va_base, va_idx, va_pipe), x_tr)


def build_data(data_spec, rank: int = 0, world_size: int = 1, device=None, loss="") -> DataBundle:
    """Datasets, pipelines and loaders for ``data_spec``; ``rank``/``world_size`` shard them for torchrun.

    ``device``: where the fast path keeps its cache (default: CPU; ``bundle.to(device)`` moves it later).
    ``loss``: the run's loss (name or module): a binary one (BCEWithLogitsLoss, BCELoss) makes the targets of a
    two-class set float 0/1 of shape (N, 1), as data.task='binary' does."""
    spec = data_spec
    p = prepare(spec, loss=loss)
    src, train_set, val_set, x_tr = p.src, p.train_set, p.val_set, p.sample
    tr_base, tr_idx, tr_pipe = train_set.base, train_set.indices, train_set.pipeline
    va_base, va_idx, va_pipe = val_set.base, val_set.indices, val_set.pipeline
    g = torch.Generator().manual_seed(spec.seed)
    s_tr = _sampler(spec, len(tr_idx), True, g, rank, world_size)
    s_va = _sampler(spec, len(va_idx), False, None, rank, world_size)
    why = _use_fast(spec, src, (tr_pipe, va_pipe), len(tr_idx) + len(va_idx), x_tr.numel())
    if why and spec.in_memory == "on":
        raise DataError(f"the fast in-memory path cannot run this: {why}", "data.in_memory",
                        "set in_memory='auto' to fall back to the DataLoader, or use only RandomCrop and flips as "
                        "random transforms")
    if why:
        kw = dict(batch_size=spec.batch_size, num_workers=spec.num_workers, pin_memory=spec.pin_memory,
                  collate_fn=collate)
        train = DataLoader(train_set, sampler=s_tr, drop_last=spec.drop_last, generator=g, **kw)
        val = DataLoader(val_set, sampler=s_va, **kw)
    else:
        train = _fast_loader(tr_base, tr_idx, tr_pipe, spec, s_tr, g, spec.drop_last, True)
        val = _fast_loader(va_base, va_idx, va_pipe, spec, s_va, torch.Generator().manual_seed(spec.seed + 1), False,
                           False)
    num_classes = len(src.class_names) if src.task in ("classification", "binary") else 1
    bundle = DataBundle(train, val, tuple(x_tr.shape), src.task, num_classes, list(src.class_names), g,
                        train_set, val_set, fast=not why, why_not_fast=why, samplers=[s_tr, s_va])
    return bundle.to(device) if device is not None else bundle


def _fast_loader(base, idx, pipe, spec, sampler, g, drop_last, draws_base_seed):
    """draws_base_seed: the DataLoader it stands for was given ``g`` (the train loader), and draws from it."""
    head, tail = fast.split(pipe)
    x, y = fast.materialize(base, idx, head)
    return fast.FastLoader(x, y, tail, spec.batch_size, drop_last, sampler, g, draws_base_seed)
