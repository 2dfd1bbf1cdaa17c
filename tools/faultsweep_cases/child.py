"""One run under test for tools/faultsweep.py: `nbtrain run ...` (argv: run SPEC ...) or `nbtrain.fit(spec)` from a
small script (argv: fit SPEC CHECKPOINT_DIR RUN_NAME [RESUME]), held open inside one phase until the sweep has sent
its signal. Nothing here changes what nbtrain does: the hooks only wait, then call through.

PHASE (backward, step, val, update_bn, swa_val, ckpt_write, fit_end; empty: no hold) and AT (which occurrence, from
1) say where to wait. The child writes READY (JSON: the phase and how many epochs the checkpoint sink had saved), then
waits for SENT; the signal's handler runs inside the phase. DONE is written when the checkpoint sink's on_fit_end
starts (every epoch trained), so a timed signal can tell "arrived before the end" from "after".
"""
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.optim.swa_utils import AveragedModel

import nbtrain.cli
from nbtrain.sinks.checkpoint import Checkpoint

PHASE, AT, READY, SENT, DONE = "", 1, Path("/nonexistent"), Path("/nonexistent"), ""
seen: dict = {}
ROOT: dict = {}


def configure(env) -> None:
    """Where to hold, from ``env`` (the environment at start; forks.py calls it again in each fork)."""
    global PHASE, AT, READY, SENT, DONE
    PHASE, AT = env.get("PHASE", ""), int(env.get("AT") or "1")
    READY, SENT = Path(env.get("READY") or "/nonexistent"), Path(env.get("SENT") or "/nonexistent")
    DONE = env.get("DONE", "")
    seen.update(n=0, bn_done=False, held=False, saved=0)
    ROOT.clear()


def hold(kind: str) -> None:
    if seen["held"] or kind != PHASE:
        return
    seen["n"] += 1
    if seen["n"] < AT:
        return
    seen["held"] = True
    READY.write_text(json.dumps({"phase": kind, "saved": seen["saved"]}))
    t = time.monotonic()
    while not SENT.exists() and time.monotonic() - t < 120:
        time.sleep(0.01)


def on_backward(tensor, *a, **k):
    if tensor.grad_fn is not None:
        tensor.grad_fn.register_prehook(lambda grads: hold("backward"))
    return ORIGINAL(tensor, *a, **k)


def on_forward(module, args, out):
    if isinstance(module, AveragedModel):
        seen["bn_done"] = True
        hold("update_bn")
    elif module is ROOT.get("m") and _in_evaluate():
        hold("swa_val" if seen["bn_done"] else "val")


def _in_evaluate() -> bool:
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "evaluate" and f.f_code.co_filename.endswith("plain.py"):
            return True
        f = f.f_back
    return False


ORIGINAL = torch.Tensor.backward
torch.Tensor.backward = on_backward
register_optimizer_step_pre_hook(lambda opt, a, k: hold("step"))
torch.nn.modules.module.register_module_forward_hook(on_forward)
_orig_call = torch.nn.Sequential.__call__


def _root_call(self, *a, **k):
    ROOT.setdefault("m", self)
    return _orig_call(self, *a, **k)


torch.nn.Sequential.__call__ = _root_call
_replace = os.replace


def _held_replace(src, dst, *a, **k):
    if str(dst).endswith(".pt"):
        hold("ckpt_write")          # the temp file is written, the rename not yet done
    return _replace(src, dst, *a, **k)


os.replace = _held_replace
_epoch_end, _fit_end = Checkpoint.on_epoch_end, Checkpoint.on_fit_end


def _counted_epoch_end(self, state, logs):
    out = _epoch_end(self, state, logs)
    seen["saved"] = state.epoch + 1
    return out


def _held_fit_end(self, state):
    if DONE and state.history is not None and not state.history.interrupted:
        Path(DONE).write_text("done")
    hold("fit_end")
    return _fit_end(self, state)


Checkpoint.on_epoch_end, Checkpoint.on_fit_end = _counted_epoch_end, _held_fit_end
configure(os.environ)


def fit_script(spec_path, ckdir, run_name, resume=None) -> int:
    """What a user's script does: fit(spec) and print how it ended."""
    import nbtrain
    spec = nbtrain.TrainSpec.load(spec_path)
    spec.loop.checkpoint_dir, spec.loop.logdir, spec.loop.run_name = ckdir, ckdir, run_name
    h = nbtrain.fit(spec, resume=resume or None, progress=False, dashboard=False)
    print("FIT-RESULT " + json.dumps({"status": h.status, "stop_reason": h.stop_reason, "epochs": len(h.epochs)}),
          flush=True)
    return 0


def main(argv: list) -> int:
    if argv[0] == "fit":
        return fit_script(*argv[1:])
    return nbtrain.cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
