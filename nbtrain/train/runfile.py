"""A run's files on disk: ``nbtrain-run.json`` (what the run is) and ``nbtrain-run.jsonl`` (what it produced).

``nbtrain-run.json`` is small and replaced atomically (a temporary file, then ``os.replace``): the spec, status,
times, epochs done, the monitor, the best epoch and the best value of every metric, the final logs. Its size does
not grow with the run. ``nbtrain-run.jsonl`` is the run record's rows, appended as they come, one JSON array a line:
``["step", logs]``, ``["epoch", logs]``, ``["val", what one validation saw]`` (confusion matrix, per-class metrics,
top losses, class names, residuals), ``["note", text]``, and ``["insight", all of it]`` where a resumed run starts
from the record it had. A line cut short by a kill is skipped when read. ``read_run`` puts both back together as
one dict whose ``history`` is what ``History.from_dict`` reads (files from before the JSON Lines file hold it whole;
``history_of_rows`` gives the History itself).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .history import History
from .rundirs import FILENAME

ROWS = "nbtrain-run.jsonl"
VERSION = 2


def plain(d: dict) -> dict:
    """JSON-safe logs: numbers (NaN and inf as strings, since JSON has neither), strings and bools."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
    return out


def write_atomic(path: Path, record: dict) -> None:
    """Compact JSON, through json's C encoder (any indent takes its pure-Python one: 5x the time)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record) + "\n")
        os.replace(tmp, path)
    finally:                  # a failed write (a full disk) leaves no temp file behind
        tmp.unlink(missing_ok=True)


def append_rows(path: Path, rows: list, fresh: bool = False) -> None:
    """Append ``[kind, value]`` lines (``fresh``: start the file anew), flushed to the OS before returning."""
    if not rows and not fresh:
        return
    with open(path, "w" if fresh else "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
        f.flush()


def _rows(path: Path):
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            kind, value = json.loads(line)
        except (ValueError, TypeError):
            continue                                    # the last line of a killed run, cut short
        yield kind, value


def history_of_rows(path: Path) -> History:
    """The run record that the JSON Lines file at ``path`` holds (a validation's per-class metrics are computed
    from its confusion matrix, as the run computed them)."""
    h = History()
    for kind, v in _rows(path):
        if kind == "step":
            h.steps.append(v)
        elif kind == "epoch":
            h.epochs.append(v)
        elif kind == "note":
            h.notes.append(v)
        elif kind == "insight":
            h._load_insight(v)
        elif kind == "val":
            h.record_validation({k: x for k, x in v.items() if x is not None})
    return h


def read_run(path) -> dict:
    """A run's ``nbtrain-run.json`` (``path``: the file or its folder) with ``history`` put back from its rows.
    Raises OSError or json.JSONDecodeError when the JSON file cannot be read."""
    f = Path(path)
    f = f / FILENAME if f.is_dir() else f
    r = json.loads(f.read_text())
    rows = f.with_name(r.get("rows", ROWS))
    if "history" not in r:                              # version 2: the rows file holds it
        h = history_of_rows(rows)
        h.final, h.status, h.stop_reason = dict(r.get("final") or {}), r.get("status", ""), r.get("stop_reason", "")
        h.watch(r.get("monitor", "val_loss"), r.get("mode", "min"))
        r["history"] = h.to_dict(copies=False)
    return r
