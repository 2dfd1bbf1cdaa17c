"""A `nbtrain run` process that holds one phase open until the test has sent its signal (for tests/test_signals.py).

PHASE (backward, step, val_last, update_bn, swa_val, fit_end) and AT (which occurrence, from 1) say where to wait:
the child writes READY, then waits for SENT, inside that phase (a hook inside the autograd engine's backward, a global
optimizer step pre-hook, a global forward hook in validation, in SWA's update_bn or SWA's validation, in the checkpoint
sink's on_fit_end before it writes last.pt).
"""
import os
import sys
import time
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.optim.swa_utils import AveragedModel

import nbtrain.cli
from nbtrain.sinks.checkpoint import Checkpoint

PHASE, AT = os.environ.get("PHASE", ""), int(os.environ.get("AT", "1"))
READY, SENT = Path(os.environ.get("READY", "/nonexistent")), Path(os.environ.get("SENT", "/nonexistent"))
EPOCHS = int(os.environ.get("EPOCHS", "0"))
seen = {"n": 0, "epoch_evals": 0, "bn_done": False, "held": False}


def hold(kind: str) -> None:
    if seen["held"] or kind != PHASE:
        return
    seen["n"] += 1
    if seen["n"] < AT:
        return
    seen["held"] = True
    READY.write_text(kind)
    t = time.monotonic()
    while not SENT.exists() and time.monotonic() - t < 120:
        time.sleep(0.01)          # the signal's handler runs here, inside the phase


def on_backward(tensor, *a, **k):
    tensor.grad_fn.register_prehook(lambda grads: hold("backward"))    # runs inside the engine's backward
    return ORIGINAL(tensor, *a, **k)


def on_forward(module, args, out):
    if isinstance(module, AveragedModel):
        seen["bn_done"] = True
        hold("update_bn")
    elif module is ROOT.get("m") and _in_evaluate():      # validation (not a probe's or a check's forward)
        hold("swa_val" if seen["bn_done"] else "val")


def _in_evaluate() -> bool:
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "evaluate" and f.f_code.co_filename.endswith("plain.py"):
            return True
        f = f.f_back
    return False


ORIGINAL = torch.Tensor.backward
ROOT: dict = {}
torch.Tensor.backward = on_backward
register_optimizer_step_pre_hook(lambda opt, a, k: hold("step"))
torch.nn.modules.module.register_module_forward_hook(on_forward)
_orig_call = torch.nn.Sequential.__call__


def _root_call(self, *a, **k):
    ROOT.setdefault("m", self)
    return _orig_call(self, *a, **k)


torch.nn.Sequential.__call__ = _root_call
_fit_end = Checkpoint.on_fit_end


def _held_fit_end(self, state):
    hold("fit_end")
    return _fit_end(self, state)


Checkpoint.on_fit_end = _held_fit_end
sys.exit(nbtrain.cli.main(sys.argv[1:]))
