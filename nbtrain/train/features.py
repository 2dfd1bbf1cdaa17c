"""Feature maps and conv kernels of a model, captured only when asked.

Forward hooks are registered for one forward pass on a fixed probe batch, in eval mode under
``torch.no_grad()``; afterwards every module's train/eval mode is restored and the hooks are removed,
so training steps never pay for them.
"""
from __future__ import annotations

import torch

from ..build.modes import eval_mode
from ..errors import NbtrainError
from ..spec.catalog import is_conv


def conv_layers(model) -> list[str]:
    """Names (as in ``model.named_modules()``) of the convolution layers (the catalog's ``conv`` tag), in order."""
    return [n for n, m in model.named_modules() if n and is_conv(m)]


def capture(model, x, layers=None) -> dict:
    """Outputs of ``layers`` (default: every conv layer) for the batch ``x``, as detached CPU tensors.

    ``x`` is moved to the model's device. The model's modes are restored and the hooks removed, even on error.
    """
    names = conv_layers(model) if layers is None else list(layers)
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise NbtrainError(f"no layer named {missing[0]!r}", "capture(layers=...)",
                           "choose from: " + ", ".join(conv_layers(model) or [n for n in modules if n]))
    out: dict = {}
    if not names:                                   # no conv layer (an MLP): nothing to run the model for
        return out
    probe_forward(model, x, {modules[n]: _saver(out, n) for n in names})
    return {n: out[n] for n in names if n in out}


def probe_forward(model: torch.nn.Module, x: torch.Tensor, hooks: dict) -> None:
    """Run ``x`` through ``model`` in eval mode under no_grad (every module's mode put back), with the forward hook
    ``hooks[module]`` on each module while it runs; ``x`` moves to the model's device."""
    handles = [m.register_forward_hook(fn) for m, fn in hooks.items()]
    try:
        param = next(model.parameters(), None)
        if param is not None:
            x = x.to(param.device)
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def _saver(out: dict, name: str):
    def hook(module, inputs, output):
        if hasattr(output, "detach"):
            out[name] = output.detach().float().cpu()
    return hook


def kernels(model, layers=None) -> dict:
    """Weights of ``layers`` (default: every conv layer) as detached CPU copies."""
    modules = dict(model.named_modules())
    names = conv_layers(model) if layers is None else list(layers)
    return {n: modules[n].weight.detach().float().cpu().clone() for n in names
            if getattr(modules.get(n), "weight", None) is not None}
