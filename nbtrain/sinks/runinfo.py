"""RunInfo: a reader of the run record that keeps ``<run_dir>/nbtrain-run.json`` and ``nbtrain-run.jsonl``, what
``nb.runs(logdir)`` and ``nb.history_of(run folder)`` read back about a run (nbtrain.train.runfile: the format).

At fit start, at epoch ends and at the end, the rows the record got since the last write (log points, epoch rows,
validations, notes) are appended to ``nbtrain-run.jsonl``, each write costing what is new, not the whole record;
``nbtrain-run.json`` (the spec, or for parts a user built the loop settings, the model's class and size and the
optimizer's hyperparameters in the spec's layout; the status, start and end time, duration, epochs done, the
record's best epoch by the run's monitor and mode, the best value of every logged metric, the final logs) is small
and replaced atomically, at most every ``every`` seconds between the start and the end.

Status: the record's: ``running`` until the end, then ``finished``, ``stopped`` (a callback, early stopping or the
Stop button asked), ``interrupted`` (KeyboardInterrupt, the kernel's stop button), ``nan`` (the loss stopped
being finite) or ``error`` (an exception ended the run; ``stop_reason`` holds it).
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
import warnings
from pathlib import Path

from ..errors import NbtrainError
from ..train.callbacks import Callback
from ..train.history import record_of
from ..train.runfile import FILENAME, ROWS, VERSION, append_rows, plain, write_atomic
from ..train.writefaults import sink_writing

__all__ = ["RunInfo", "FILENAME", "describe_parts"]


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


class RunInfo(Callback):
    """Writes ``nbtrain-run.json`` and ``nbtrain-run.jsonl`` into the run's folder (``state.run_dir``, or ``run_dir``
    given here); only on the main rank, and not at all when the run has no folder (``logdir=''``)."""

    def __init__(self, run_dir=None, clock=time.time, every: float = 5.0):
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.clock, self.every = clock, every
        self._written_at = 0.0
        self.path: Path | None = None
        self.record: dict = {}
        self._at = {"steps": 0, "epochs": 0, "notes": 0, "validations": 0}    # the record's rows written so far
        self.failed = ""                       # a write that failed (a full or read-only disk): nothing more written

    def on_fit_start(self, state) -> None:
        run_dir = self.run_dir or state.run_dir
        self.path = Path(run_dir) / FILENAME if run_dir is not None and state.is_main else None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        h, now = record_of(state), self.clock()
        self.record = {
            "version": VERSION, "run_name": state.run_name or self.path.parent.name, "rows": ROWS,
            "status": "running", "stop_reason": "", "start_time": _iso(now), "end_time": None, "start": now,
            "duration_s": 0.0, "epochs": state.epochs, "epochs_done": 0, "step": state.step,
            "monitor": h.monitor, "mode": h.mode, "best_epoch": None, "from_spec": state.spec is not None,
            "spec": state.spec.to_dict() if state.spec is not None else describe_parts(state),
            "best": {}, "final_logs": {}, "final": {}, "host": socket.gethostname(), "pid": os.getpid(),
        }
        first = [["insight", h.insight_dict(copies=False)]] if h.validations else []   # a resumed run's so far
        self._at = {"steps": 0, "epochs": 0, "notes": 0, "validations": h.validations}
        self._append(first + self._new_rows(h), fresh=True)
        self._write(self.record)
        self._written_at = self.clock()

    def _writing(self, path: Path):
        """A failed write (a full or read-only disk) is one NbtrainError naming the file; then nothing more."""
        return sink_writing(self, path, "loop.logdir", keeps=Exception)

    def _append(self, rows: list, fresh: bool = False) -> None:
        with self._writing(self.path.with_name(ROWS)):
            append_rows(self.path.with_name(ROWS), rows, fresh)

    def _write(self, record: dict) -> None:
        with self._writing(self.path):
            try:
                write_atomic(self.path, record)
            except OSError as e:
                if e.errno != errno.ENOSPC or not overwrite(self.path, record):
                    raise

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.path is None or self.failed:
            return
        self._append(self._new_rows(state.history))
        if self.clock() - self._written_at >= self.every:
            self._update(state)
            self._write(self.record)
            self._written_at = self.clock()

    def on_interrupt(self, state, exc: BaseException) -> None:
        if self.path is not None and not self.failed:
            try:
                self._append(self._new_rows(state.history))
            except NbtrainError as e:       # not raised: the run's own stop stands, and the checkpoint sink saves it
                warnings.warn(f"the run record was not written: {e}", RuntimeWarning, stacklevel=2)

    def on_fit_end(self, state) -> None:
        if self.path is None:
            return
        h = state.history
        self._update(state)
        r = self.record
        r["status"] = h.status if h.status not in ("", "running") else ("stopped" if state.should_stop else "finished")
        r["stop_reason"] = h.stop_reason or state.stop_reason or ""
        r["end_time"] = _iso(self.clock())
        r["final"] = plain(h.final)
        try:
            if not self.failed:             # after a failed append the rows file ends mid-line: left as it is
                self._append(self._new_rows(h))
            self._write(r)
        except NbtrainError as e:
            if not r["stop_reason"].startswith("error:"):
                raise
            warnings.warn(f"the run record was not written: {e}", RuntimeWarning, stacklevel=2)  # the error stands

    def on_abort(self, state) -> None:
        """A third signal stopped the run at once: the record ends as the run's record says (never "running")."""
        if self.path is not None and self.record.get("status") == "running":
            self.on_fit_end(state)

    def _new_rows(self, h) -> list:
        """``[kind, value]`` for each row the record got since the last call."""
        at, out = self._at, []
        for kind, rows in (("step", h.steps), ("epoch", h.epochs), ("note", h.notes)):
            key = kind + "s"
            out += [[kind, plain(r) if kind != "note" else r] for r in rows[at[key]:]]
            at[key] = len(rows)
        if h.validations > at["validations"]:
            at["validations"] = h.validations
            cms = h.confusion
            out.append(["val", {"confusion": cms[-1] if cms else None, "top_losses": h.top_losses,
                                "class_names": h.class_names, "residuals": h.residuals}])
        return out

    def _update(self, state) -> None:
        r, h = self.record, state.history
        r["epochs_done"] = state.epochs_done or len(h.epochs)
        r["step"] = state.step
        r["duration_s"] = round(self.clock() - r["start"], 3)
        top = h.best()
        r["best_epoch"] = {"key": top[0], "value": top[1], "epoch": top[2]} if top else None
        r["best"] = h.bests()
        r["final_logs"] = plain(h.epochs[-1] if h.epochs else state.logs)


def overwrite(path: Path, record: dict) -> bool:
    """On a full disk, where no new file can be made: the record written over the old file's own blocks, when it
    fits in them (a file's last block has room to spare; the final record is a few hundred bytes longer than the
    first), so the record still says how the run ended. Not atomic: the fallback of a full disk only."""
    data = (json.dumps(record) + "\n").encode()
    try:
        if len(data) > path.stat().st_blocks * 512:
            return False
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate()
        return True
    except OSError:
        return False


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
