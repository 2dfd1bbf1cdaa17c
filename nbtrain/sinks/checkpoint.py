"""Checkpoints: one file with everything needed to resume exactly, written atomically.

A checkpoint is a dict saved with ``torch.save``: ``format``, ``model``, ``optimizer``, ``scheduler``,
``scaler``, ``swa_model``, ``epoch`` (epochs completed), ``step``, ``history``, ``rng`` (python, numpy,
torch, cuda and the train loader's generator), ``callbacks`` (early stopping, best value), ``spec``
(JSON text) and ``partial`` (written by an interrupt mid-epoch: how many batches of the interrupted epoch
were done, the RNG states at that epoch's start and the epoch's running sums, so the resumed run skips those
batches and goes on exactly; empty otherwise). Every value is a tensor or
plain Python data, so ``load_checkpoint`` reads it with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..callbacks import Callback
from ..errors import CheckpointError, NbtrainError
from .early_stop import improved

FORMAT = "nbtrain-checkpoint-1"


# -- RNG states as tensors and plain data (weights_only-safe) ---------------------------------------
def rng_state(generator=None) -> dict:
    v, keys, gauss = random.getstate()
    kind, np_keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [v, list(keys), gauss],
        "numpy": [kind, torch.from_numpy(np_keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generator": generator.get_state() if generator is not None else None,
    }


def set_rng_state(rng: dict, generator=None) -> None:
    v, keys, gauss = rng["python"]
    random.setstate((v, tuple(keys), gauss))
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"].cpu())
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    if generator is not None and rng.get("generator") is not None:
        generator.set_state(rng["generator"].cpu())


# -- making, writing, reading ------------------------------------------------------------------------
def make_checkpoint(state, partial: bool = False) -> dict:
    """Everything to resume ``state`` (the loop's State) at the end of its last completed epoch."""
    ex = state.extra
    scaler, swa = ex.get("scaler"), ex.get("swa_model")
    cb_states = {c.state_key: c.state_dict() for c in ex.get("callbacks", ()) if hasattr(c, "state_key")}
    return {
        "format": FORMAT,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else {},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "swa_model": swa.state_dict() if swa is not None else {},
        "epoch": ex.get("epochs_done", 0),
        "step": state.step,
        "partial": ex["partial_state"]() if partial and callable(ex.get("partial_state")) else {},
        "history": state.history.to_dict() if state.history is not None else {},
        "rng": rng_state(ex.get("generator")),
        "callbacks": cb_states,
        "spec": state.spec.to_json() if state.spec is not None else "",
        "loop": ex["loop"].to_dict() if ex.get("loop") is not None else {},
    }


def save_atomic(obj, path, saver=torch.save) -> Path:
    """Write to a temp file in the same folder, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        saver(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def copy_atomic(src, dst) -> Path:
    return save_atomic(None, dst, saver=lambda _obj, tmp: shutil.copyfile(src, tmp))


def _load_failure(e: Exception) -> str:
    """What went wrong in torch.load, without torch's generic advice to retry with weights_only=False."""
    text = str(e).strip()
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``; ``map_location`` moves tensors (GPU-saved, CPU-loaded)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError("no such file", str(p), "give the path of a .pt file written by nbtrain")
    try:
        ck = torch.load(p, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as e:
        first = _load_failure(e)
        if first.startswith("Unsupported global"):
            raise CheckpointError("holds pickled Python objects, not an nbtrain checkpoint (a whole saved model?)",
                                  str(p), "nbtrain reads checkpoints with torch.load(weights_only=True); load a whole "
                                  "model with torch.load(path, weights_only=False) only if you trust the file") from None
        raise CheckpointError(f"not a readable checkpoint ({first[:200]})", str(p),
                              "the file is corrupt or not a torch checkpoint; use another one, e.g. best.pt or an "
                              "earlier epoch_*.pt") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError("not an nbtrain checkpoint (no 'format' entry)", str(p),
                              "give a file written by nbtrain's checkpoints; for a bare state_dict use "
                              "model.load_state_dict(torch.load(path, weights_only=True))")
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


def restore(ck: dict, state, where: str = "checkpoint") -> None:
    """Load a checkpoint's model, optimizer, schedule, scaler, SWA, history and callback states into ``state``."""
    ex = state.extra
    load_model_state(state.model, ck["model"], where)
    state.optimizer.load_state_dict(ck["optimizer"])
    if state.scheduler is not None and ck.get("scheduler"):
        state.scheduler.load_state_dict(ck["scheduler"])
    if ex.get("scaler") is not None and ck.get("scaler"):
        ex["scaler"].load_state_dict(ck["scaler"])
    if ex.get("swa_model") is not None and ck.get("swa_model"):
        ex["swa_model"].load_state_dict(ck["swa_model"])
    if state.history is not None:
        state.history.load_state_dict(ck.get("history", {}))
    for c in ex.get("callbacks", ()):
        if hasattr(c, "state_key") and c.state_key in ck.get("callbacks", {}):
            c.load_state_dict(ck["callbacks"][c.state_key])
    state.step = ck["step"]


# -- the sink ---------------------------------------------------------------------------------------
class Checkpoint(Callback):
    """Writes ``epoch_NNN.pt`` every epoch (keeping the last ``keep_last``), ``best.pt`` when ``monitor``
    improves, ``last.pt`` at the end, and ``interrupted.pt`` when the run is interrupted mid-epoch.

    ``saver(obj, path)`` is injectable (default torch.save) so the logic is testable without a disk.
    """
    state_key = "checkpoint"

    def __init__(self, directory, keep_last: int = 2, monitor: str = "val_loss", mode: str = "min",
                 saver=torch.save):
        self.dir = Path(directory)
        self.keep_last, self.monitor, self.mode, self.saver = keep_last, monitor, mode, saver
        self.best = None
        self.written: list[Path] = []
        check_writable(self.dir, "loop.checkpoint_dir")

    def _write(self, state, name: str, partial: bool = False) -> Path:
        return save_atomic(make_checkpoint(state, partial), self.dir / name, self.saver)

    def on_epoch_end(self, state, logs: dict) -> None:
        path = self._write(state, f"epoch_{state.epoch + 1:03d}.pt")
        self.written.append(path)
        value = logs.get(self.monitor)
        if value is not None and improved(value, self.best, self.mode, 0.0):
            self.best = value
            copy_atomic(path, self.dir / "best.pt")   # the same bytes: no second serialization
        self._prune()

    def _prune(self) -> None:
        epochs = sorted(self.dir.glob("epoch_*.pt"))
        for old in epochs[:max(0, len(epochs) - self.keep_last)]:
            old.unlink(missing_ok=True)

    def on_interrupt(self, state, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt):
            partial = bool(state.extra.get("mid_epoch"))
            state.extra["interrupted_checkpoint"] = self._write(state, "interrupted.pt", partial)

    def on_fit_end(self, state) -> None:
        if state.history is not None and not state.history.epochs and not state.extra.get("interrupted_checkpoint"):
            return
        state.extra["last_checkpoint"] = self._write(state, "last.pt", partial=bool(state.extra.get("mid_epoch")))

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, d: dict) -> None:
        self.best = d.get("best")


def check_writable(directory: Path, where: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".nbtrain-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise NbtrainError(f"cannot write to {str(directory)!r} ({e.strerror or e})", where,
                           "choose a folder you can write to") from None


def spec_of(ck: dict):
    """The TrainSpec stored in a checkpoint (None for a run built from parts)."""
    from ..spec import TrainSpec
    return TrainSpec.from_dict(json.loads(ck["spec"])) if ck.get("spec") else None
