"""RunInfo: ``<run_dir>/nbtrain-run.json``, what ``nb.runs(logdir)`` reads back about a run.

Written atomically (a temporary file, then ``os.replace``) at fit start, at epoch ends (at most every ``every``
seconds, 5 by default: each write encodes the whole record, which grows with the run) and at fit end:
the spec (or, for parts a user built, the loop settings, the model's class and size and the optimizer's
hyperparameters in the spec's layout), the status, start and end time, duration, epochs done, the best
value of every logged metric, the final logs and the per-epoch history (curves when TensorBoard is absent).

Status: ``running`` until the end, then ``finished``, ``stopped`` (a callback, early stopping or the Stop
button asked), ``interrupted`` (KeyboardInterrupt, the kernel's stop button), ``nan`` (the loss stopped
being finite) or ``error`` (an exception ended the run; ``stop_reason`` holds it).
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path

from ..train.callbacks import Callback
from ..train.rundirs import FILENAME

VERSION = 1
MAXIMIZE = ("acc", "f1", "precision", "recall", "auc", "r2")   # metric names where higher is better


def higher_is_better(key: str) -> bool:
    return any(m in key for m in MAXIMIZE)


def best_of(epochs: list[dict]) -> dict:
    """{metric: best value over the epochs}: the lowest loss or error, the highest accuracy-like value."""
    best: dict = {}
    for e in epochs:
        for k, v in e.items():
            if k in ("epoch", "step") or k.startswith("lr") or not _finite(v):
                continue
            if k not in best or (v > best[k] if higher_is_better(k) else v < best[k]):
                best[k] = v
    return best


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _plain(d: dict) -> dict:
    """JSON-safe logs: numbers (NaN and inf as strings, since JSON has neither), strings and bools."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


def describe_parts(state) -> dict:
    """A spec-shaped description of a run built from parts (no TrainSpec): what ``runs().diff`` compares."""
    loop = state.loop_spec
    out: dict = {"loop": loop.to_dict() if loop is not None else {}}
    model = state.model
    if model is not None:
        out["model"] = {"class": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters())}
    opt = state.optimizer
    if opt is not None:
        group = opt.param_groups[0]
        out["optim"] = {"type": type(opt).__name__, **{k: v for k, v in group.items()
                                                       if k != "params" and isinstance(v, (int, float, str, bool))}}
    loader = state.train_loader
    if getattr(loader, "batch_size", None):
        out["data"] = {"batch_size": loader.batch_size}
    return out


def write_atomic(path: Path, record: dict) -> None:
    """Compact JSON, through json's C encoder (any indent takes its pure-Python one: 5x the time, every epoch)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)


class RunInfo(Callback):
    """Writes ``nbtrain-run.json`` into the run's folder (``state.run_dir``, or ``run_dir`` given here); only on
    the main rank, and not at all when the run has no folder (``logdir=''``)."""

    def __init__(self, run_dir=None, clock=time.time, every: float = 5.0):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.clock, self.every = clock, every
        self._written_at = 0.0
        self.path: Path | None = None
        self.record: dict = {}

    def on_fit_start(self, state) -> None:
        run_dir = self.run_dir or state.run_dir
        main = state.is_main
        self.path = Path(run_dir) / FILENAME if run_dir is not None and main else None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = state.loop_spec
        now = self.clock()
        self.record = {
            "version": VERSION, "run_name": state.run_name or self.path.parent.name,
            "status": "running", "stop_reason": "",
            "start_time": _iso(now), "end_time": None, "start": now, "duration_s": 0.0,
            "epochs": state.epochs, "epochs_done": 0, "step": state.step,
            "monitor": getattr(loop, "monitor", "val_loss"), "mode": getattr(loop, "mode", "min"),
            "from_spec": state.spec is not None,
            "spec": state.spec.to_dict() if state.spec is not None else describe_parts(state),
            "best": {}, "final_logs": {}, "history": {"epochs": []},
            "host": socket.gethostname(), "pid": os.getpid(),
        }
        write_atomic(self.path, self.record)
        self._written_at = self.clock()

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.path is None or self.clock() - self._written_at < self.every:
            return
        self._update(state)
        write_atomic(self.path, self.record)
        self._written_at = self.clock()

    def on_interrupt(self, state, exc: BaseException) -> None:
        if self.path is None:
            return
        if isinstance(exc, KeyboardInterrupt):
            self.record["status"] = "interrupted"
        else:
            self.record["status"] = "error"
            self.record["stop_reason"] = f"{type(exc).__name__}: {exc}"

    def on_fit_end(self, state) -> None:
        if self.path is None:
            return
        self._update(state)
        r = self.record
        if r["status"] == "running":
            loss = (state.logs or {}).get("loss")
            if isinstance(loss, float) and not math.isfinite(loss):
                r["status"] = "nan"
            else:
                r["status"] = "stopped" if state.should_stop else "finished"
        r["stop_reason"] = r["stop_reason"] or state.stop_reason or ""
        r["end_time"] = _iso(self.clock())
        h = state.history
        if h is not None:
            r["history"] = {"epochs": [_plain(e) for e in h.epochs], "steps": [_plain(s) for s in h.steps],
                            **_insight(h)}
            r["final"] = _plain(getattr(h, "final", {}) or {})
        write_atomic(self.path, r)

    def _update(self, state) -> None:
        r, h = self.record, state.history
        epochs = list(h.epochs) if h is not None else []
        r["epochs_done"] = state.epochs_done or len(epochs)
        r["step"] = state.step
        r["duration_s"] = round(self.clock() - r["start"], 3)
        r["best"] = best_of(epochs)
        r["final_logs"] = _plain(epochs[-1] if epochs else state.logs)
        r["history"] = {"epochs": [_plain(e) for e in epochs], **_insight(h)}


def _insight(h) -> dict:
    """Confusion, per class, top losses...: the History's own lists (the record is encoded before they change)."""
    return h.insight_dict(copies=False) if hasattr(h, "insight_dict") else {}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
