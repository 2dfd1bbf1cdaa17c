"""What a checkpoint holds: the Trainer's state_dict, and loading it back (checked against the run first).

A checkpoint is a dict saved with ``torch.save``: ``format``, ``model``, ``optimizer``, ``scheduler`` (nbtrain's
Schedule), ``scaler``, ``swa_model``, ``epoch`` (epochs completed), ``step``, ``history``, ``rng`` (python, numpy,
torch, cuda and the train loader's generator), ``callbacks`` (early stopping, best value), ``spec`` (JSON text),
``loop`` (the LoopSpec) and ``partial`` (written by a stop mid-epoch: how many batches of the interrupted epoch were
done, the RNG states at that epoch's start and the epoch's running sums, so the resumed run skips those batches and
goes on exactly; empty otherwise). Every value is a tensor or plain Python data, so ``load_checkpoint`` reads it with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from .errors import CheckpointError
from .rng import rng_state

FORMAT = "nbtrain-checkpoint-1"


def state_dict(state, partial: dict | None = None) -> dict:
    """Everything to resume ``state`` (the loop's State); ``partial`` is the Trainer's mid-epoch record."""
    cb_states = {c.state_key: c.state_dict() for c in state.callbacks if hasattr(c, "state_key")}
    return {
        "format": FORMAT,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.schedule.state_dict() if state.schedule is not None else {},
        "scaler": state.scaler.state_dict() if state.scaler is not None else {},
        "swa_model": state.swa_model.state_dict() if state.swa_model is not None else {},
        "epoch": state.epochs_done,
        "step": state.step,
        "partial": partial or {},
        "history": state.history.to_dict() if state.history is not None else {},
        "rng": rng_state(state.generator),
        "callbacks": cb_states,
        "spec": state.spec.to_json() if state.spec is not None else "",
        "loop": state.loop_spec.to_dict() if state.loop_spec is not None else {},
    }


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


def load_state_dict(state, ck: dict, where: str = "checkpoint") -> None:
    """Load a checkpoint's model, optimizer, schedule, scaler, SWA, history and callback states into ``state``."""
    load_model_state(state.model, ck["model"], where)
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
