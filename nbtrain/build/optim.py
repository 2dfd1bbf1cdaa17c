"""Optimizer with param groups, LR scheduler, and the LR curve a schedule will give.

``Schedule`` is the one place that knows when a scheduler steps (per batch or per epoch), what
ReduceLROnPlateau is fed, how a warm-up is chained (SequentialLR) and when SWA's SWALR takes over.
``fit`` and ``lr_curve`` both drive it, so the curve a user previews is the curve training follows.
"""
from __future__ import annotations

import fnmatch
import warnings

import torch
from torch import nn
from torch.optim import lr_scheduler as sch
from torch.optim.swa_utils import SWALR

from ..errors import SpecError
from ..spec.catalog import OPTIMIZERS
from ..spec.expr import factors
from ..spec.trainspec import OptimSpec, SchedSpec, TrainSpec
from .plainsched import Stepper


# -- optimizer -----------------------------------------------------------------------------------
def group_names(optim_spec: OptimSpec) -> list[str]:
    """Names of the param groups in order: 'default', then each group's pattern."""
    return ["default"] + [g.pattern for g in optim_spec.groups]


def split_params(optim_spec: OptimSpec, model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters per group: a layer goes to the first group whose pattern matches its name, else to group 0."""
    layers = list(model.named_children()) or [("", model)]
    names = [n for n, _ in layers]
    out = [[] for _ in range(len(optim_spec.groups) + 1)]
    hits = [0] * len(optim_spec.groups)
    for name, layer in layers:
        gi = next((j for j, g in enumerate(optim_spec.groups) if fnmatch.fnmatchcase(name, g.pattern)), None)
        params = [p for p in layer.parameters() if p.requires_grad]
        if gi is None:
            out[0].extend(params)
        else:
            hits[gi] += 1
            out[gi + 1].extend(params)
    for j, g in enumerate(optim_spec.groups):
        where = f"optim.groups[{j}].pattern"
        if hits[j] == 0:
            raise SpecError(f"pattern {g.pattern!r} matches no layer", where,
                            "layer names are: " + ", ".join(names))
        if not out[j + 1]:
            raise SpecError(f"pattern {g.pattern!r} matches only layers without trainable parameters", where,
                            "match a Linear, Conv or norm layer")
    return out


def _optimizer(optim_spec: OptimSpec, groups: list[dict]) -> torch.optim.Optimizer:
    entry = OPTIMIZERS.get_entry(optim_spec.type, "optim.type")
    kw = optim_spec.kwargs("optim")
    try:
        return entry.build(groups, lr=optim_spec.lr, **kw)
    except ValueError as e:
        raise SpecError(f"torch.optim.{optim_spec.type} rejected the settings: {e}", "optim",
                        "check the optimizer's parameters") from None


def _group_dicts(optim_spec: OptimSpec, param_lists) -> list[dict]:
    dicts = []
    for name, params, g in zip(group_names(optim_spec), param_lists, [None] + list(optim_spec.groups)):
        d = {"params": params, "name": name}
        if g is not None and g.lr is not None:
            d["lr"] = g.lr
        if g is not None and g.weight_decay is not None:
            d["weight_decay"] = g.weight_decay
        dicts.append(d)
    return dicts


def build_optimizer(optim_spec: OptimSpec, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer over ``model``; group 0 holds every layer no group pattern matched."""
    if isinstance(optim_spec, TrainSpec):
        optim_spec = optim_spec.optim
    return _optimizer(optim_spec, _group_dicts(optim_spec, split_params(optim_spec, model)))


# -- scheduler -----------------------------------------------------------------------------------
def _scheduler_steps(sched_spec: SchedSpec, epochs: int, steps_per_epoch: int) -> int:
    return epochs * steps_per_epoch if sched_spec.per_step else epochs


def scheduler_kwargs(sched_spec: SchedSpec, n: int, groups: int = 1) -> dict:
    """The named scheduler's arguments for a main part of ``n`` scheduler steps: 'auto' T_max and total_steps
    resolved; for LambdaLR / MultiplicativeLR ``lr_lambda`` is a list of checked ``Expr``, one per group."""
    t, where = sched_spec.type, "sched"
    kw = sched_spec.kwargs(where)
    if t in ("LambdaLR", "MultiplicativeLR"):
        kw = {"lr_lambda": factors(sched_spec.params, where, groups, n, first=int(t == "MultiplicativeLR"),
                                   unit="step" if sched_spec.per_step else "epoch")}
    elif t == "CosineAnnealingLR" and kw["T_max"] == "auto":
        kw["T_max"] = max(n, 1)
    elif t == "OneCycleLR":
        if kw["total_steps"] is None:
            kw["total_steps"] = max(n, 1)
        elif kw["total_steps"] < n:
            raise SpecError(f"total_steps {kw['total_steps']} is smaller than the {n} steps of the run "
                            f"({'epochs x steps per epoch' if sched_spec.per_step else 'epochs'})",
                            "sched.total_steps", f"set total_steps to null or to at least {n}")
    elif t == "ReduceLROnPlateau" and sched_spec.warmup:
        raise SpecError("a warm-up cannot be chained before ReduceLROnPlateau (SequentialLR does not feed it "
                        "a metric)", "sched.warmup", "set warmup to 0, or use LinearLR then another scheduler")
    return kw


def _main_scheduler(sched_spec: SchedSpec, optimizer, n: int):
    """The named scheduler; ``n`` is how many scheduler steps it gets after the warm-up."""
    t, where = sched_spec.type, "sched"
    kw = scheduler_kwargs(sched_spec, n, len(optimizer.param_groups))
    if "lr_lambda" in kw:
        kw["lr_lambda"] = [f.function() for f in kw["lr_lambda"]]
    try:
        return sched_spec.entry().build(optimizer, **kw)
    except ValueError as e:
        raise SpecError(f"torch.optim.lr_scheduler.{t} rejected the settings: {e}", where,
                        "check the scheduler's parameters") from None


def build_scheduler(sched_spec: SchedSpec, optimizer, epochs: int, steps_per_epoch: int):
    """The torch scheduler (a SequentialLR when a warm-up is chained before it), or None for a constant LR.

    It is meant to be stepped per batch when ``sched_spec.per_step``, else per epoch."""
    if isinstance(sched_spec, TrainSpec):
        sched_spec = sched_spec.sched
    n = _scheduler_steps(sched_spec, epochs, steps_per_epoch)
    w = sched_spec.warmup
    if w and w >= n:
        raise SpecError(f"warm-up of {w} steps is not shorter than the {n} scheduler steps of the run", "sched.warmup",
                        f"use a warm-up below {n} ({'steps' if sched_spec.per_step else 'epochs'})")
    if not sched_spec.type and not w:
        return None
    warm = sch.LinearLR(optimizer, start_factor=sched_spec.warmup_start_factor, end_factor=1.0, total_iters=w) if w else None
    if not sched_spec.type:
        return warm
    main = _main_scheduler(sched_spec, optimizer, n - w)
    if warm is None:
        return main
    return sch.SequentialLR(optimizer, [warm, main], milestones=[w])


# -- live LR scaling (the dashboard's LR slider: State.scale_lr) -----------------------------------------
GROUP_LR_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "swa_lr")
SCHED_LR_ATTRS = ("base_lrs", "max_lrs", "min_lrs", "eta_min", "_last_lr")


def scale_groups(optimizer, ratio: float) -> None:
    """Multiply every LR value of every param group (lr, initial_lr, max_lr, min_lr, swa_lr) by ``ratio``."""
    for g in optimizer.param_groups:
        for k in GROUP_LR_KEYS:
            if isinstance(g.get(k), (int, float)) and not isinstance(g.get(k), bool):
                g[k] = g[k] * ratio


def scale_scheduler(scheduler, ratio: float) -> None:
    """Multiply the LR values a torch scheduler computes from (and its chained children's) by ``ratio``."""
    for s in [scheduler, *getattr(scheduler, "_schedulers", ())]:
        for a in SCHED_LR_ATTRS:
            v = getattr(s, a, None)
            if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
                setattr(s, a, [x * ratio for x in v])
            elif isinstance(v, float):
                setattr(s, a, v * ratio)


class Schedule(Stepper):
    """Steps a scheduler the way its spec says (nbtrain.build.plainsched.Stepper, which an exported script runs
    too); the loop and lr_curve both call it.

    ``after_step()`` after each optimizer step, ``after_epoch(logs)`` at each epoch end."""

    def __init__(self, sched_spec: SchedSpec, optimizer, epochs: int, steps_per_epoch: int, scheduler="build"):
        self.spec = sched_spec
        if scheduler == "build":
            scheduler = build_scheduler(sched_spec, optimizer, epochs, steps_per_epoch)
        super().__init__(optimizer, scheduler, per_step=sched_spec.per_step, monitor=sched_spec.monitor,
                         swa=sched_spec.swa, swa_start=sched_spec.swa_start, swa_lr=sched_spec.swa_lr,
                         swa_anneal_epochs=sched_spec.swa_anneal_epochs)

    def after_epoch(self, logs: dict | None = None) -> None:
        if self.plateau and not self.per_step and not self.swa_active(self.epoch) and (logs is None or self.monitor not in logs):
            raise SpecError(f"ReduceLROnPlateau watches {self.monitor!r}, which this run does not log",
                            "sched.monitor", "logged: " + ", ".join(sorted(logs or {})))
        super().after_epoch(logs)

    def scale_lr(self, ratio: float) -> None:
        """Scale the LR from the next step on: every group's LR and everything the schedulers compute it from."""
        scale_groups(self.optimizer, ratio)
        for s in (self.scheduler, self.swa_scheduler):
            if s is not None:
                scale_scheduler(s, ratio)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch,
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "swa_scheduler": None if self.swa_scheduler is None else self.swa_scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("swa_scheduler") is not None:
            # SWALR writes swa_lr into every group and steps once when made: keep what the checkpoint restored
            groups = self.optimizer.param_groups
            lrs = [g["lr"] for g in groups]
            self.swa_scheduler = SWALR(self.optimizer, swa_lr=[g.get("swa_lr", g["lr"]) for g in groups])
            self.swa_scheduler.load_state_dict(state["swa_scheduler"])
            for g, lr in zip(groups, lrs):
                g["lr"] = lr


def lr_curve(optim_spec: OptimSpec, sched_spec: SchedSpec, epochs: int, steps_per_epoch: int,
             metrics: list[float] | None = None) -> list[list[float]]:
    """LR of every param group at every step: ``curve[g][t]`` is the LR group g uses for step t.

    No model is needed: one dummy parameter per group goes through the same ``Schedule`` as fit.
    ``metrics`` (one value per epoch) feeds ReduceLROnPlateau; without it the plateau curve is flat."""
    if epochs < 1 or steps_per_epoch < 1:
        raise SpecError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {steps_per_epoch}", "lr_curve")
    dummies = [[nn.Parameter(torch.zeros(1))] for _ in range(len(optim_spec.groups) + 1)]
    optimizer = _optimizer(optim_spec, _group_dicts(optim_spec, dummies))
    schedule = Schedule(sched_spec, optimizer, epochs, steps_per_epoch)
    curve = [[] for _ in dummies]
    groups = optimizer.param_groups
    with warnings.catch_warnings():
        # no gradients exist, so optimizer.step() is skipped; torch would warn about the order
        warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
        for e in range(epochs):
            for _ in range(steps_per_epoch):
                for g, c in zip(groups, curve):
                    c.append(g["lr"])
                schedule.after_step()
            logs = None
            if schedule.plateau:
                # without metrics, preview a metric that keeps improving: the LR stays flat
                improving = -e if schedule.scheduler.mode == "min" else e
                logs = {sched_spec.monitor: metrics[e] if metrics is not None else improving}
            schedule.after_epoch(logs)
    return curve
