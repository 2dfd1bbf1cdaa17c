"""What a checkpoint holds: the Trainer's state_dict, and loading it back (checked against the run first).

A checkpoint is a dict saved with ``torch.save``: ``format``, ``model``, ``optimizer``, ``scheduler`` (nbtrain's
Schedule), ``scaler``, ``swa_model``, ``epoch`` (epochs completed), ``step``, ``history`` (``History.to_dict()``;
stored as JSON text, which ``load_checkpoint`` decodes), ``rng`` (python, numpy, torch, cuda and the train loader's
generator), ``callbacks`` (early stopping, best value), ``spec`` (JSON text), ``layers`` (each leaf module's name
and type, so a resume finds a changed layer without parameters, e.g. Tanh for ReLU; older checkpoints lack it),
``loop`` (the LoopSpec) and ``partial`` (written by a stop mid-epoch: how many batches of the interrupted epoch were
done, the RNG states at that epoch's start and the epoch's running sums, so the resumed run skips those batches and
goes on exactly; empty otherwise). Every value is a tensor or plain Python data, so ``load_checkpoint`` reads it with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from ..build.optim import lr_curve
from ..errors import CheckpointError
from .rng import rng_state

FORMAT = "nbtrain-checkpoint-1"


def state_dict(state, partial: dict | None = None) -> dict:
    """Everything to resume ``state`` (the loop's State); ``partial`` is the Trainer's mid-epoch record."""
    cb_states = {c.state_key: c.state_dict() for c in state.callbacks if hasattr(c, "state_key")}
    return {
        "format": FORMAT,
        "model": state.model.state_dict(),
        "layers": layer_types(state.model),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.schedule.state_dict() if state.schedule is not None else {},
        "scaler": state.scaler.state_dict() if state.scaler is not None else {},
        "swa_model": state.swa_model.state_dict() if state.swa_model is not None else {},
        "epoch": state.epochs_done,
        "step": state.step,
        "partial": partial or {},
        "history": state.history.state_dict() if state.history is not None else {},
        "rng": rng_state(state.generator),
        "callbacks": cb_states,
        "spec": state.spec.to_json() if state.spec is not None else "",
        "loop": state.loop_spec.to_dict() if state.loop_spec is not None else {},
    }


def _load_failure(e: Exception) -> str:
    """What went wrong in torch.load, without torch's generic advice to retry with weights_only=False."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    elif text.startswith("Weights only load failed"):    # torch 2.14: the reason is on a later line
        reason = [line for line in text.splitlines()[1:] if "GLOBAL" in line or "global" in line]
        text = reason[0].strip() if reason else text
    return text.splitlines()[0].strip() if text else type(e).__name__


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``; ``map_location`` moves tensors (GPU-saved, CPU-loaded)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("no such file", str(p), "give the path of a .pt file written by nbtrain")
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError,
            IndexError, TypeError, AttributeError) as e:   # the last three: torch's unpickler on foreign bytes (text)
        first = "not a file torch.save wrote" if isinstance(e, (IndexError, TypeError, AttributeError)) else \
            _load_failure(e)
        if first.startswith("Unsupported global") or "unsupported GLOBAL" in first:
            what = "a whole saved model?" if first.startswith("Unsupported global") else first
            raise CheckpointError(f"holds pickled Python objects, not an nbtrain checkpoint ({what})",
                                  str(p), "nbtrain reads checkpoints with torch.load(weights_only=True); load a whole "
                                  "model with torch.load(path, weights_only=False) only if you trust the file") from None
        raise CheckpointError(f"not a readable checkpoint ({first[:200]})", str(p),
                              "the file is corrupt or not a torch checkpoint; use another one, e.g. best.pt or an "
                              "earlier epoch_*.pt") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError("not an nbtrain checkpoint (no 'format' entry)", str(p),
                              "give a file written by nbtrain's checkpoints; for a bare state_dict use "
                              "model.load_state_dict(torch.load(path, weights_only=True))")
    if isinstance(ck.get("history"), str):
        try:
            ck["history"] = json.loads(ck["history"])
        except ValueError as e:
            raise CheckpointError(f"its run history is not readable JSON ({e})", str(p),
                                  "the file is damaged; use another one, e.g. best.pt or an earlier epoch_*.pt") from None
    return ck


def load_model_state(model, sd: dict, where: str) -> None:
    """load_state_dict that names missing and unexpected keys (and size mismatches) in one clear error."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in sd and hasattr(sd[k], "shape") and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected))
        if wrong:
            parts.append("different shapes (checkpoint vs model): " + ", ".join(wrong))
        raise CheckpointError("the checkpoint belongs to another model; " + "; ".join(parts), where,
                              "resume with the spec the checkpoint was saved with (it is stored in checkpoint['spec'])")
    model.load_state_dict(sd)


def layer_types(model) -> list[list[str]]:
    """``[name, type]`` of each leaf module: what the state_dict does not show (layers without parameters)."""
    return [[n, type(m).__name__] for n, m in model.named_modules() if n and not next(m.children(), None)]


def check_layers(model, ck: dict, where: str) -> None:
    """The checkpoint's layers (when it lists them) are this model's, in order and type."""
    saved, own = ck.get("layers"), layer_types(model)
    if saved is None or [list(x) for x in saved] == own:
        return
    if len(saved) != len(own):
        what = f"{len(saved)} layers, this run's model {len(own)}"
    else:
        diff = [f"{a[0]!r} is {a[1]} there and {b[1]} here" if a[1] != b[1] else f"{a[0]!r} is named {b[0]!r} here"
                for a, b in zip(saved, own) if list(a) != b]
        what = "other layers: " + "; ".join(diff[:3]) + (f" (and {len(diff) - 3} more)" if len(diff) > 3 else "")
    raise CheckpointError(f"the checkpoint's model has {what}", where,
                          "resume with the spec the checkpoint was saved with (it is stored in checkpoint['spec']), "
                          "or start a new run")


NOT_HYPER = ("params", "name", "initial_lr", "swa_lr")   # group keys that are no optimizer setting of the user's


def _settings(group: dict) -> dict:
    return {k: v for k, v in group.items() if k not in NOT_HYPER}


def _spec_part(ck: dict, part: str) -> dict:
    return json.loads(ck["spec"]).get(part, {}) if ck.get("spec") else {}


def check_optimizer(optimizer, ck: dict, spec, where: str) -> None:
    """The checkpoint's optimizer must be of this run's type with the same param groups, else one clear error;
    settings the checkpoint restores over this run's (lr, weight_decay, ...) are listed in one warning."""
    saved, own = ck["optimizer"].get("param_groups", []), optimizer.param_groups
    old_type = _spec_part(ck, "optim").get("type")
    new_type = spec.optim.type if spec is not None else None
    if old_type and new_type and old_type != new_type:
        raise CheckpointError(f"the checkpoint's optimizer is {old_type}, this run's is {new_type}", where,
                              f"resume with optim.type {old_type!r}, or start a new run (resume=None)")
    if len(saved) != len(own):
        raise CheckpointError(f"the checkpoint's optimizer has {len(saved)} param groups, this run's has {len(own)}",
                              where, "resume with the param groups (optim.groups) the checkpoint was saved with")
    for i, (a, b) in enumerate(zip(saved, own)):
        if set(_settings(a)) != set(_settings(b)):
            raise CheckpointError(f"the checkpoint's optimizer is another type (its group {i} has "
                                  f"{', '.join(sorted(_settings(a)))}; this run's has {', '.join(sorted(_settings(b)))})",
                                  where, "resume with the optimizer the checkpoint was saved with")
        if len(a["params"]) != len(b["params"]):
            raise CheckpointError(f"param group {i} holds {len(a['params'])} tensors in the checkpoint and "
                                  f"{len(b['params'])} in this run", where, "resume with the same optim.groups patterns")
    changed = [f"group {i} {k}: {b[k]!r} -> {a[k]!r}" for i, (a, b) in enumerate(zip(saved, own))
               for k in _settings(a) if k != "lr" and a[k] != b[k]]
    changed += [f"group {i} lr: {b.get('initial_lr', b['lr'])!r} -> {a.get('initial_lr', a['lr'])!r}"
                for i, (a, b) in enumerate(zip(saved, own)) if a.get("initial_lr", a["lr"]) != b.get("initial_lr", b["lr"])]
    if changed:
        warnings.warn(f"{where}: the checkpoint's optimizer settings win over this run's: " + "; ".join(changed) +
                      " (to train with new settings, start a new run from the checkpoint's weights)",
                      UserWarning, stacklevel=3)


def check_scheduler(schedule, ck: dict, spec, where: str) -> None:
    """A checkpoint of another scheduler type does not silently start the schedule over."""
    old = _spec_part(ck, "sched").get("type")
    new = spec.sched.type if spec is not None else None
    had = bool((ck.get("scheduler") or {}).get("scheduler"))
    has = getattr(schedule, "scheduler", None) is not None
    if (old is not None and new is not None and old != new) or (spec is None and had != has):
        raise CheckpointError(f"the checkpoint's LR scheduler is {old or ('one' if had else 'none')}, this run's is "
                              f"{new or ('one' if has else 'none')}", where,
                              "resume with the scheduler the checkpoint was saved with, or start a new run")


def check_horizon(spec, ck: dict, epochs: int, steps_per_epoch: int, where: str) -> None:
    """Resuming with other epochs than the checkpoint's run planned: fine when the LR schedule does not depend on
    the run's length (StepLR, a constant LR, ...); an error when it does (OneCycleLR, CosineAnnealingLR over the run,
    a warm-up in steps of the run ...), where going on would follow neither plan."""
    old = (ck.get("loop") or {}).get("epochs")
    if spec is None or old is None or old == epochs:
        return
    n = min(old, epochs)
    a = lr_curve(spec.optim, spec.sched, old, steps_per_epoch)
    b = lr_curve(spec.optim, spec.sched, epochs, steps_per_epoch)
    if any(x[:n * steps_per_epoch] != y[:n * steps_per_epoch] for x, y in zip(a, b)):
        raise CheckpointError(f"the checkpoint's run planned its {spec.sched.type} schedule over {old} epochs; this "
                              f"run asks for {epochs}, which changes the learning rate of the epochs already done",
                              where, f"resume with epochs={old}; to train longer, start a new run from the "
                              "checkpoint's weights (model.load_state_dict(nbtrain.load_checkpoint(path)['model']))")


def _no_entry(missing: list, where: str) -> None:
    if missing:
        raise CheckpointError(f"the checkpoint has no {', '.join(missing)} entry", where,
                              "the file was edited or cut; use another one, e.g. best.pt or an earlier epoch_*.pt")


def check_progress(ck: dict, epochs: int, steps_per_epoch: int, where: str) -> None:
    """The checkpoint's entries are there, and its epoch, step and partial batches are in this run's range."""
    part = ck.get("partial") or {}
    _no_entry([k for k in ("model", "optimizer", "epoch", "step", "rng") if k not in ck] +
              [f"{k} (a {kind}, found {type(v).__name__})" for k, v, kind in
               (("model", ck.get("model", {}), "state_dict"), ("optimizer", ck.get("optimizer", {}), "state_dict"),
                ("partial", part, "dict")) if not isinstance(v, dict)], where)
    epoch, step, done = ck["epoch"], ck["step"], part.get("batches", 0)
    bad = [f"epoch {epoch!r} (0 to {epochs})" for _ in [0] if type(epoch) is not int or not 0 <= epoch <= epochs]
    bad += [f"step {step!r} (0 or more)" for _ in [0] if type(step) is not int or step < 0]
    bad += [f"partial batches {done!r} (0 to {steps_per_epoch}: the batches of an epoch at this batch size)"
            for _ in [0] if type(done) is not int or not 0 <= done <= steps_per_epoch]
    if bad:
        raise CheckpointError("the checkpoint's progress is out of this run's range: " + ", ".join(bad), where,
                              "resume with the spec (epochs, data.batch_size) it was saved with, or use another "
                              "checkpoint; an edited checkpoint cannot resume")
    _no_entry([f"partial.{k}" for k in ("batches", "epoch_rng", "acc", "last", "logged") if part and k not in part],
              where)


def check_batch_size(spec, ck: dict, where: str) -> None:
    """The checkpoint's steps and mid-epoch position count batches of its spec's data.batch_size: another batch size
    would resume at another sample and step the LR schedule on another clock."""
    old = _spec_part(ck, "data").get("batch_size")
    new = spec.data.batch_size if spec is not None else None
    if old is not None and new is not None and old != new:
        raise CheckpointError(f"the checkpoint was trained with data.batch_size {old}, this run's is {new} (its "
                              f"step {ck.get('step')} and position in the epoch count batches of {old})", where,
                              f"resume with data.batch_size {old}; to train on with batch size {new}, start a new run "
                              "from the checkpoint's weights (model.load_state_dict(nbtrain.load_checkpoint(path)"
                              "['model']))")


def check_history(state, ck: dict, where: str) -> None:
    """A run resumed with a History needs the checkpoint's record of the epochs done (every checkpoint format holds
    one, an entry per epoch), else last.pt and the run record would silently hold only the epochs after the resume."""
    if state.history is None:
        return
    _no_entry(["history"] if "history" not in ck else
              [f"history (a dict, found {type(ck['history']).__name__})"] if not isinstance(ck["history"], dict) else [],
              where)
    rows = ck["history"].get("epochs", [])
    if ck["history"] and (not isinstance(rows, list) or len(rows) < ck["epoch"]):
        got = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise CheckpointError(f"the checkpoint's history logs {got} epoch(s) of the {ck['epoch']} it has done: the "
                              "earlier epochs' logs are missing", where,
                              "the file was edited or cut; use another one, e.g. best.pt or an earlier epoch_*.pt")


def load_state_dict(state, ck: dict, where: str = "checkpoint") -> None:
    """Load a checkpoint's model, optimizer, schedule, scaler, SWA, history and callback states into ``state``,
    after checking that they belong to this run (model keys and shapes, optimizer type and groups, scheduler)."""
    check_progress(ck, state.epochs, state.steps_per_epoch, where)
    check_batch_size(state.spec, ck, where)
    check_history(state, ck, where)
    load_model_state(state.model, ck["model"], where)
    check_layers(state.model, ck, where)
    check_horizon(state.spec, ck, state.epochs, state.steps_per_epoch, where)
    check_optimizer(state.optimizer, ck, state.spec, where)
    check_scheduler(state.schedule, ck, state.spec, where)
    state.optimizer.load_state_dict(ck["optimizer"])
    if state.schedule is not None and ck.get("scheduler"):
        state.schedule.load_state_dict(ck["scheduler"])
    if state.scaler is not None and ck.get("scaler"):
        state.scaler.load_state_dict(ck["scaler"])
    if state.swa_model is not None and ck.get("swa_model"):
        state.swa_model.load_state_dict(ck["swa_model"])
    if state.history is not None:
        state.history.load_state_dict(ck.get("history", {}))
    for c in state.callbacks:
        if hasattr(c, "state_key") and c.state_key in ck.get("callbacks", {}):
            c.load_state_dict(ck["callbacks"][c.state_key])
    state.step = ck["step"]
    state.epochs_done = state.epoch = ck["epoch"]
