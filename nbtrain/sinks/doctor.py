"""The training doctor: common mistakes noticed while training, each said once, with its fix.

A callback, on by default. It watches the events (loss at log points, the model's mode after a step) and
looks at the model's inputs through forward pre-hooks: the first training batch (normalization) and every
BatchNorm input (batch size 1). Warnings go through ``emit`` (default: ``warnings.warn`` with
``DoctorWarning``) and are kept in ``self.said`` and ``state.notes`` so a dashboard can show them.
"""
from __future__ import annotations

import math
import warnings

from ..callbacks import Callback

RANDOM_TRANSFORMS = {"ColorJitter", "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "GaussianBlur",
                     "GaussianNoise", "ElasticTransform", "ScaleJitter", "RandomShortestSize", "JPEG", "MixUp",
                     "CutMix"}


class DoctorWarning(UserWarning):
    """A likely mistake in how a model is trained (nbtrain's training doctor)."""


class Doctor(Callback):
    """Warn once per mistake: eval mode in training, Softmax before CrossEntropyLoss, loss rising or NaN,
    random augmentation in validation, unnormalized inputs, BatchNorm with batch size 1.

    ``rising``: how many log points in a row the loss must rise before the doctor says so.
    """

    def __init__(self, rising: int = 5, emit=None):
        self.rising = rising
        self.emit = emit or (lambda code, msg: warnings.warn(msg, DoctorWarning, stacklevel=2))
        self.said: dict[str, str] = {}
        self._losses: list[float] = []
        self._hooks: list = []
        self._first = None
        self._state = None

    def warn(self, code: str, msg: str) -> None:
        if code in self.said:
            return
        self.said[code] = msg
        if self._state is not None:
            self._state.notes.append(msg)
        self.emit(code, msg)

    # -- events ----------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self._state, self._losses = state, []
        model = state.model
        if model is None:
            return
        self._check_softmax(model, state.loss_fn)
        self._check_val_pipeline(state)
        self._first = model.register_forward_pre_hook(self._first_input)
        for name, m in model.named_modules():
            if type(m).__name__.startswith(("BatchNorm", "LazyBatchNorm")):
                self._hooks.append(m.register_forward_pre_hook(self._bn_input(name)))

    def on_batch_end(self, state, logs) -> None:
        if state.model is not None and not state.model.training:
            self.warn("eval_mode", "the model was in eval mode during a training step, so Dropout is off and "
                      "BatchNorm does not learn its statistics (call model.train() before training steps; a "
                      "callback that calls model.eval() must switch back with model.train())")

    def on_log(self, state, logs) -> None:
        loss = logs.get("loss")
        if not isinstance(loss, (int, float)):
            return
        lr = _lr(state)
        lower = f"lower the learning rate to {lr / 10:.3g} (LR / 10)" if lr else "lower the learning rate (LR / 10)"
        if not math.isfinite(loss):
            self.warn("loss_nan", f"the loss is {loss} at step {state.step} ({lower}; check the inputs for NaN, "
                      "or clip gradients with loop.grad_clip)")
            return
        self._losses.append(float(loss))
        last = self._losses[-(self.rising + 1):]
        if len(last) == self.rising + 1 and all(b > a for a, b in zip(last, last[1:])):
            self.warn("loss_rising", f"the loss rose over the last {self.rising} log points, from {last[0]:.4g} "
                      f"to {last[-1]:.4g} at step {state.step} ({lower})")

    def on_fit_end(self, state) -> None:
        for h in self._hooks + ([self._first] if self._first is not None else []):
            h.remove()
        self._hooks, self._first = [], None

    # -- checks ----------------------------------------------------------------------------------
    def _check_softmax(self, model, loss_fn) -> None:
        if type(loss_fn).__name__ != "CrossEntropyLoss":
            return
        leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
        if leaves and type(leaves[-1][1]).__name__ in ("Softmax", "LogSoftmax"):
            name, last = leaves[-1]
            self.warn("softmax_ce", f"the last layer {name!r} ({type(last).__name__}) feeds CrossEntropyLoss, which "
                      "applies log-softmax itself, so the gradients are squashed (remove the last "
                      f"{type(last).__name__}: the model should output raw logits)")

    def _check_val_pipeline(self, state) -> None:
        found = _random_in_spec(state.spec) or _random_in_loader(state.val_loader)
        if found:
            self.warn("val_random", f"the validation pipeline has random augmentation ({found}), so val metrics "
                      "change from run to run (move it to the train pipeline: data.train_transforms)")

    def _first_input(self, module, inputs):
        if not module.training or not inputs:
            return
        x = inputs[0]
        if not (hasattr(x, "is_floating_point") and x.is_floating_point() and x.numel() > 1):
            return
        if self._first is not None:
            self._first.remove()
            self._first = None
        mean, std = x.detach().float().mean().item(), x.detach().float().std().item()
        if abs(mean) > 1.0 or not 0.5 <= std <= 2.0:
            self.warn("unnormalized", f"the first training batch has mean {mean:.3g} and std {std:.3g}, far from 0 and 1 "
                      "(normalize the inputs: add Normalize(mean, std) to the pipelines with the values of "
                      "nbtrain.normalize_stats(spec.data), or StandardScaler for tabular data)")

    def _bn_input(self, name: str):
        def hook(module, inputs):
            if module.training and inputs and getattr(inputs[0], "shape", (2,))[0] == 1:
                self.warn("bn_batch1", f"BatchNorm layer {name!r} got a batch of 1 sample in training, so its batch "
                          "statistics are meaningless (set data.drop_last=True, or pick a batch size that does "
                          "not leave a last batch of 1)")
        return hook


def _lr(state) -> float:
    opt = state.optimizer
    try:
        return float(opt.param_groups[0]["lr"])
    except (AttributeError, IndexError, KeyError, TypeError):
        return 0.0


def _is_random(name: str) -> bool:
    return name.startswith("Random") or name in RANDOM_TRANSFORMS


def _random_in_spec(spec) -> str:
    data = getattr(spec, "data", None)
    for t in getattr(data, "val_transforms", None) or []:
        tags = ()
        try:
            tags = t.entry().tags
        except Exception:  # noqa: BLE001 - an entry the catalog no longer has: judge by name
            pass
        if _is_random(t.type) or "random" in tags:
            return t.type
    return ""


def _random_in_loader(loader) -> str:
    """Random torchvision transforms reachable from a DataLoader's dataset (through Subset and Compose)."""
    ds = getattr(loader, "dataset", None)
    seen = 0
    while ds is not None and seen < 5:
        for attr in ("transform", "transforms"):
            name = _random_in_transform(getattr(ds, attr, None))
            if name:
                return name
        ds, seen = getattr(ds, "dataset", None), seen + 1
    return ""


def _random_in_transform(t, depth: int = 0) -> str:
    if t is None or depth > 4:
        return ""
    mod = type(t).__module__ or ""
    if mod.startswith("torchvision") and _is_random(type(t).__name__):
        return type(t).__name__
    for child in getattr(t, "transforms", None) or []:
        name = _random_in_transform(child, depth + 1)
        if name:
            return name
    return ""
