"""The worker side of ``fit(spec, processes=N)``: rank 0 tells the notebook what happens; every rank follows its controls.

The notebook's kernel starts the workers with torchrun and never trains itself. Two small files in a folder the
kernel made connect them (nothing else is shared, no port is opened):

- ``events.jsonl``: rank 0's ``Relay`` appends one JSON line per event (the run's start, each log point, each epoch
  end, the doctor's notes, the end) and flushes it; the kernel tails the file and feeds the same Dashboard a
  single-process run has.
- ``control.json``: the kernel writes Stop, Pause and the LR factor there (atomically: a rename). ``Follow`` on every
  rank meets the others at each log point: rank 0 reads the file (a stat, and a read when it changed) and broadcasts
  ``[stop, pause, lr factor]``, so every rank stops at the same step (the checkpoint rank 0 writes is one they all
  agree on), scales its LR at the same step (DDP's replicas stay equal) and waits together while paused (each
  wait a short broadcast, so no collective runs into the process group's timeout).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from .callbacks import Callback

STOP_REASON = "stopped by you"   # the Stop button's reason, as nbtrain.sinks.control gives it (the display translates it)
EVENTS, CONTROL, HISTORY = "events.jsonl", "control.json", "history.json"


def _numbers(logs: dict) -> dict:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _lrs(state) -> list:
    return [float(g["lr"]) for g in state.optimizer.param_groups] if state.optimizer is not None else []


class Relay(Callback):
    """Rank 0: each event as one JSON line in ``folder/events.jsonl``, flushed at once."""

    def __init__(self, folder):
        self.path = Path(folder) / EVENTS
        self.file = None
        self.notes = 0

    def send(self, kind: str, state, **more) -> None:
        if self.file is None:
            self.file = open(self.path, "a", encoding="utf-8")
        fresh, self.notes = list(state.notes[self.notes:]), len(state.notes)
        msg = {"e": kind, "t": time.time(), "step": state.step, "epoch": state.epoch, "batch": state.batch,
               "lrs": _lrs(state), **more}
        if fresh:
            msg["notes"] = fresh
        self.file.write(json.dumps(msg, default=str) + "\n")
        self.file.flush()

    def on_fit_start(self, state) -> None:
        bs = getattr(state.train_loader, "batch_size", None)
        self.send("start", state, epochs=state.epochs, steps_per_epoch=state.steps_per_epoch, run_name=state.run_name,
                  world_size=state.world_size, batch_size=bs, pid=os.getpid(),
                  checkpoint_dir=str(state.checkpoint_dir or ""), monitor=state.history.monitor,
                  mode=state.history.mode)

    def on_log(self, state, logs) -> None:
        self.send("log", state, logs=_numbers(logs))

    def on_epoch_end(self, state, logs) -> None:
        self.send("epoch", state, logs=_numbers(logs))

    def on_fit_end(self, state) -> None:
        self.send("end", state, stop_reason=state.stop_reason)
        self.file.close()
        self.file = None


def read_control(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):     # not written yet (or a foreign file): no control asked
        return {}


def write_control(path: Path, control: dict) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(control), encoding="utf-8")
    os.replace(tmp, path)


class Follow(Callback):
    """Every rank: at each log point, the controls rank 0 read from ``folder/control.json``, applied everywhere."""

    def __init__(self, folder, poll: float = 0.2, sleep=time.sleep):
        self.path = Path(folder) / CONTROL
        self.poll, self.sleep = poll, sleep
        self._seen, self._asked = None, {}

    def _read(self) -> dict:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return self._asked
        if stamp != self._seen:
            self._seen, self._asked = stamp, read_control(self.path)
        return self._asked

    def _agree(self, state) -> tuple[bool, bool, float]:
        asked = self._read() if state.rank == 0 else {}
        vec = torch.tensor([float(bool(asked.get("stop"))), float(bool(asked.get("pause"))),
                            float(asked.get("lr_scale", 1.0))], dtype=torch.float64)
        if state.world_size > 1:
            dev = state.device if state.device is not None and state.device.type == "cuda" else "cpu"
            vec = vec.to(dev)
            torch.distributed.broadcast(vec, src=0)
        stop, pause, scale = vec.tolist()
        return bool(stop), bool(pause), scale

    def on_batch_end(self, state, logs) -> None:
        if logs:                       # a log point: the same steps on every rank
            self.follow(state)

    def follow(self, state) -> None:
        while True:
            stop, pause, scale = self._agree(state)
            if scale > 0:
                state.set_lr_scale(scale)      # the LR slider's factor over the planned LR (no-op when unchanged)
            if stop:
                state.request_stop(STOP_REASON)
                return
            if not pause:
                return
            self.sleep(self.poll)
