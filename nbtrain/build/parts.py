"""Turn what fit() was given (a TrainSpec, or parts a user built) into the parts the loop runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import NbtrainError
from ..spec.catalog import LOSSES, is_per_step
from ..spec.trainspec import SchedSpec
from .data import build_data
from .data.fast import DEFAULT_BATCH_SIZE, tensor_loader
from .data.sanity import label_bounds
from .model import build_model
from .optim import Schedule, build_optimizer


def wrap_scheduler(scheduler, optimizer, loop_spec, epochs: int, steps_per_epoch: int):
    """A user's torch scheduler (or None) behind nbtrain.build.optim.Schedule, so stepping lives in one place: per
    step when its catalog entry is tagged ``per_step`` (OneCycleLR, CyclicLR), else per epoch, ReduceLROnPlateau
    fed ``loop_spec.monitor``."""
    spec = SchedSpec(type="", interval="step" if is_per_step(scheduler) else "epoch",
                     monitor=loop_spec.monitor)
    return Schedule(spec, optimizer, epochs, steps_per_epoch, scheduler=scheduler)


@dataclass
class Parts:
    model: nn.Module
    train: Any
    val: Any = None
    optimizer: Any = None
    schedule: Any = None
    loss_fn: Any = None
    num_classes: int | None = None
    task: str = ""
    generator: Any = None          # the torch.Generator deciding the batch order (checkpointed)
    set_epoch: Any = None          # DistributedSampler-style reshuffle hook
    probe: Any = None              # a fixed (x, y) batch for feature maps
    bundle: Any = None             # the DataBundle the data came from (class names...), when there is one
    labels: Any = None             # {split: (lowest, its sample, highest, its sample)} of the labels at hand


def build_loss(loss, loop_spec) -> Any:
    """A loss module from a name in nbtrain.spec.catalog.LOSSES, a module/callable, or the spec's default."""
    if loss is None:
        loss = loop_spec.loss
    if isinstance(loss, str):
        e = LOSSES.get_entry(loss, "loss")
        params = loop_spec.loss_params if loss == loop_spec.loss else {}
        return e.build(**e.kwargs(params))
    if not callable(loss):
        raise NbtrainError(f"expected a loss name, an nn.Module or a function, got {type(loss).__name__}", "loss",
                           "e.g. loss='CrossEntropyLoss' or loss=torch.nn.MSELoss()")
    return loss


def _loader_generator(loader) -> Any:
    g = getattr(loader, "generator", None)
    if g is None:
        g = getattr(getattr(loader, "sampler", None), "generator", None)
    return g


def _set_epoch_of(loader):
    s = getattr(loader, "sampler", None)
    return getattr(s, "set_epoch", None)


def first_batch(loader, n: int = 8):
    """The first ``n`` samples of a loader, drawn without moving the global RNG (a fixed probe batch)."""
    if loader is None:
        return None
    with torch.random.fork_rng(devices=[]):
        for x, y in loader:
            return x[:n], y[:n]
    return None


def _tensor_pair(d) -> bool:
    return isinstance(d, (tuple, list)) and len(d) == 2 and isinstance(d[0], torch.Tensor)


def check_trainable(model, where: str) -> None:
    """A model with no parameter that requires grad is one error here, not torch's ``optimizer got an empty
    parameter list`` (or a backward through nothing) later."""
    if not any(p.requires_grad for p in model.parameters()):
        frozen = next(model.parameters(), None) is not None
        raise NbtrainError("the model has no parameters to train (" +
                           ("every parameter has requires_grad=False" if frozen else "none of its layers learns, e.g. "
                            "only activations, Flatten or Identity") + ")", where,
                           "unfreeze some: p.requires_grad_(True)" if frozen else
                           "add a layer with weights, e.g. nn.Linear or nn.Conv2d")


def from_user(model, data, train, val, optimizer, scheduler, loss, loop_spec, epochs: int) -> Parts:
    if model is None:
        raise NbtrainError("no model", "fit", "give a TrainSpec, or model= with train= (or data=)")
    if not isinstance(model, nn.Module):
        raise NbtrainError(f"model must be a torch.nn.Module, got {type(model).__name__}", "fit(model=...)")
    meta = next((n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta), None)
    if meta is not None:        # model.to(device) would fail in torch: "Cannot copy out of meta tensor; no data!"
        raise NbtrainError(f"the model's tensors are on the meta device (shapes, no values), e.g. {meta!r}",
                           "fit(model=...)", "materialize them first: model.to_empty(device='cpu') and then initialize "
                           "them (each layer's reset_parameters()), or load weights with "
                           "model.load_state_dict(state_dict, assign=True)")
    bundle = None
    if data is not None:
        if hasattr(data, "train"):
            bundle, train, val = data, data.train, getattr(data, "val", val)
        elif isinstance(data, (tuple, list)) and len(data) == 2:
            train, val = data
        else:
            train = data
    if train is None:
        raise NbtrainError("no training data", "fit", "pass train=DataLoader(...) or data=build_data(spec.data)")
    if _tensor_pair(train):     # the fast in-memory path: the batches of a seeded DataLoader(TensorDataset(x, y))
        train = tensor_loader(*train, DEFAULT_BATCH_SIZE, True, torch.Generator().manual_seed(loop_spec.seed))
    if _tensor_pair(val):
        val = tensor_loader(*val, DEFAULT_BATCH_SIZE, where="val")
    try:
        n = len(train)
    except TypeError:
        raise NbtrainError("the training data has no len()", "fit(train=...)",
                           "pass a DataLoader or another iterable of (x, y) batches with len()") from None
    if n == 0:
        raise NbtrainError("the training data has no batches", "fit(train=...)", "check the dataset and batch_size")
    if optimizer is None:
        check_trainable(model, "fit(model=...)")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = scheduler
    if scheduler is None or isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler) or \
            isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        schedule = wrap_scheduler(scheduler, optimizer, loop_spec, epochs, n)
    p = Parts(model=model, train=train, val=val, optimizer=optimizer, schedule=schedule,
              loss_fn=build_loss(loss, loop_spec), labels=label_bounds({"training": train, "validation": val}))
    if bundle is not None:
        p.bundle = bundle
        p.num_classes = getattr(bundle, "num_classes", None)
        p.task = getattr(bundle, "task", "")
        p.generator = getattr(bundle, "train_generator", None)
        p.set_epoch = getattr(bundle, "set_epoch", None)
        probe = getattr(bundle, "probe", None)
        p.probe = probe(8) if callable(probe) else None
    p.generator = p.generator or _loader_generator(train)
    p.set_epoch = p.set_epoch or _set_epoch_of(train)
    return p


def build_parts(spec, loop_spec, given: dict, rank: int = 0, world_size: int = 1, device=None) -> Parts:
    """What fit() was given (a TrainSpec and replacements, or the user's own parts) as the parts the loop runs."""
    if spec is not None:
        return from_spec(spec, loop_spec, loop_spec.epochs, rank, world_size, device,
                         **{k: v for k, v in given.items() if v is not None})
    return from_user(**given, loop_spec=loop_spec, epochs=loop_spec.epochs)


def from_spec(spec, loop_spec, epochs: int, rank: int = 0, world_size: int = 1, device=None, **given) -> Parts:
    """Build data, model, optimizer and schedule from a TrainSpec; anything in ``given`` wins."""
    loss = given.get("loss")
    bundle = build_data(spec.data, rank=rank, world_size=world_size, device=device,
                        loss=loop_spec.loss if loss is None else loss)   # a binary loss: float (N, 1) targets
    model = given.get("model") or build_model(spec.model, bundle.input_shape)
    if not given.get("optimizer"):
        check_trainable(model, "fit(model=...)" if given.get("model") else "model.layers")
    optimizer = given.get("optimizer") or build_optimizer(spec.optim, model)
    scheduler = given.get("scheduler")
    if scheduler is None:
        scheduler = Schedule(spec.sched, optimizer, epochs, len(bundle.train))
    return from_user(model, bundle, None, None, optimizer, scheduler, given.get("loss"), loop_spec, epochs)
