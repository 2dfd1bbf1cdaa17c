"""nb.runs(logdir): every run in a log directory as a table, the spec difference of two runs, their curves.

Each run folder's ``nbtrain-run.json`` (written by nbtrain.sinks.runinfo.RunInfo) gives its spec, status,
times, epochs and best metrics; curves are read back from its TensorBoard event files, or from the JSON's
history when tensorboard is not installed. A folder with event files and no JSON (a run from before RunInfo)
is listed with status ``unknown``.
"""
from __future__ import annotations

import html
import json
import math
import os
import socket
from pathlib import Path

from ..errors import NbtrainError
from ..train.runfile import FILENAME, read_run

IGNORED = ("loop.run_name", "loop.logdir", "loop.checkpoint_dir")   # differ between any two runs; not a hyperparameter
COLUMNS = ("name", "status", "epochs", "duration", "started")


def flatten(d, prefix: str = "") -> dict:
    """{"optim.lr": 0.001, "model.layers[0].type": "Conv2d", ...}; empty dicts and lists kept as values."""
    out = {}
    if isinstance(d, dict) and d:
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d:
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = d
    return out


def _fmt(v) -> str:
    if v is _MISSING:
        return "(none)"
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


_MISSING = object()


class Diff(list):
    """Lines ``"optim.lr 0.001 -> 0.01"``, one per field that differs, in the spec's order."""

    def __str__(self) -> str:
        return "\n".join(self) if self else "(no difference)"

    __repr__ = __str__


def spec_diff(a: dict, b: dict, ignore=IGNORED) -> Diff:
    fa, fb = flatten(a), flatten(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    out = Diff()
    for k in keys:
        va, vb = fa.get(k, _MISSING), fb.get(k, _MISSING)
        if k not in ignore and va != vb:
            out.append(f"{k} {_fmt(va)} -> {_fmt(vb)}")
    return out


def _alive(record: dict) -> bool:
    """Whether the process that wrote a ``running`` record still runs (only knowable on the same host)."""
    if record.get("host") != socket.gethostname() or not record.get("pid"):
        return True
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def read_record(run_dir: Path, logdir: Path) -> dict:
    name = run_dir.relative_to(logdir).as_posix()
    f = run_dir / FILENAME
    if not f.is_file():
        return {"run_name": name, "status": "unknown", "spec": {}, "best": {}, "history": {"epochs": []},
                "stop_reason": "no nbtrain-run.json (a run written before RunInfo, or by another tool)"}
    try:
        r = read_run(f)
    except (OSError, json.JSONDecodeError) as e:
        return {"run_name": name, "status": "unreadable", "spec": {}, "best": {}, "history": {"epochs": []},
                "stop_reason": f"{FILENAME}: {e}"}
    r["run_name"] = name
    if r.get("status") == "running" and not _alive(r):
        r["status"] = "interrupted"
        r["stop_reason"] = "the process ended without finishing the run (killed?)"
    return r


def _run_dirs(logdir: Path) -> list[Path]:
    found = {p.parent for p in logdir.rglob(FILENAME)}
    found |= {p.parent for p in logdir.rglob("events.out.tfevents.*")}
    return sorted(found)


def _duration(s) -> str:
    if not isinstance(s, (int, float)):
        return ""
    s = round(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def varying(hparams: list[dict]) -> list[str]:
    """The fields set in at least two runs with different values there: the table's hyperparameter columns."""
    keys = list(dict.fromkeys(k for h in hparams for k in h))
    out = []
    for k in keys:
        values = [json.dumps(h[k], sort_keys=True) for h in hparams if k in h]
        if len(values) > 1 and len(set(values)) > 1:
            out.append(k)
    return out


def _row(r: dict, varying: list[str]) -> dict:
    flat = flatten(r.get("spec") or {})
    best = r.get("best") or {}
    row = {"name": r["run_name"], "status": r.get("status", "unknown"),
           "epochs": f"{r.get('epochs_done', 0)}/{r.get('epochs', '?')}" if "epochs" in r else "",
           "duration": _duration(r.get("duration_s")), "started": r.get("start_time") or ""}
    for k in sorted(best):
        row[f"best {k}"] = best[k]
    for k in varying:
        row[k] = flat.get(k, "")
    row["stop_reason"] = r.get("stop_reason", "")
    return row


class Runs:
    """The runs of one log directory. ``.table`` is a list of dicts (one per run, sorted by start time),
    ``runs["name"]`` a run's full record; ``.diff(a, b)`` and ``.plot(names, key)`` compare runs."""

    def __init__(self, logdir, records: list[dict]):
        self.logdir = Path(logdir)
        self.records = {r["run_name"]: r for r in sorted(records, key=lambda r: (r.get("start") or 0, r["run_name"]))}
        self.hparams = {n: {k: v for k, v in flatten(r.get("spec") or {}).items() if k not in IGNORED}
                        for n, r in self.records.items()}
        self.varying = varying(list(self.hparams.values()))
        self.table = [_row(r, self.varying) for r in self.records.values()]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, name: str) -> dict:
        return self.records[self._name(name, "runs[...]")]

    def _name(self, name, where: str) -> str:
        if isinstance(name, int) and not isinstance(name, bool) and -len(self.table) <= name < len(self.table):
            return self.table[name]["name"]
        if name not in self.records:
            known = ", ".join(self.records) or "none"
            raise NbtrainError(f"no run named {name!r} in {self.logdir}", where, f"known runs: {known}")
        return name

    def diff(self, a, b) -> Diff:
        """The spec difference from run ``a`` to run ``b``, field by field ("optim.lr 0.001 -> 0.01")."""
        ra, rb = self[self._name(a, "runs.diff")], self[self._name(b, "runs.diff")]
        return spec_diff(ra.get("spec") or {}, rb.get("spec") or {})

    def curve(self, name, key: str = "val_loss") -> tuple[list, list]:
        """(x, y) of one metric of one run: from TensorBoard's event files (``epoch/<key>`` per epoch, or a full
        tag such as ``train/loss`` per step), else from the run's JSON history (per epoch)."""
        name = self._name(name, "runs.curve")
        got = _tb_curve(self.logdir / name, key)
        if got is not None:
            return got
        epochs = self.records[name].get("history", {}).get("epochs", [])
        pts = [(e.get("epoch", i + 1), _num(e[key])) for i, e in enumerate(epochs) if key in e]
        return [p[0] for p in pts], [p[1] for p in pts]

    def plot(self, names=None, key: str = "val_loss", ax=None):
        """A matplotlib figure with ``key`` of each chosen run (default: all) over epochs, one line per run."""
        import matplotlib.pyplot as plt  # heavy; only when a plot is asked for
        names = [self._name(n, "runs.plot") for n in (names if names is not None else list(self.records))]
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            plt.close(fig)     # returned, not shown twice in a notebook
        for n in names:
            x, y = self.curve(n, key)
            ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=n)
        ax.set_xlabel("step" if "/" in key and not key.startswith("epoch/") else "epoch")
        ax.set_ylabel(key)
        if names:
            ax.legend(fontsize="small")
        return ax.figure

    def __repr__(self) -> str:
        return text_table(self.table) if self.table else f"Runs({self.logdir}: no runs)"

    def _repr_html_(self) -> str:
        return html_table(self.table) if self.table else f"<p>no runs in {html.escape(str(self.logdir))}</p>"


def _num(v):
    try:
        return float(v)      # "nan" and "inf" were written as strings
    except (TypeError, ValueError):
        return math.nan


def _tb_curve(run_dir: Path, key: str):
    """(x, y) from the event files under ``run_dir``, or None (no tensorboard, no such tag)."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # optional extra
    except ImportError:
        return None
    if not any(run_dir.glob("events.out.tfevents.*")):
        return None
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    tag = key if key in tags else f"epoch/{key}"
    if tag not in tags:
        return None
    ev = acc.Scalars(tag)
    return [e.step for e in ev], [e.value for e in ev]


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def text_table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "stop_reason"))
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    def line(vals):
        return "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])


_SORT_JS = ("var t=this.closest('table'),b=t.tBodies[0],i=this.cellIndex,d=this.dataset.d=-(this.dataset.d||-1);"
            "Array.from(b.rows).sort(function(x,y){var p=x.cells[i].dataset.v,q=y.cells[i].dataset.v,"
            "m=parseFloat(p),n=parseFloat(q);return d*(isNaN(m)||isNaN(n)?p.localeCompare(q):m-n)})"
            ".forEach(function(r){b.appendChild(r)})")


def html_table(rows: list[dict]) -> str:
    """An HTML table whose headers sort it on click (a few lines of inline script, no library)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f'<th style="cursor:pointer" title="sort" onclick="{html.escape(_SORT_JS)}">'
                   f"{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        tds = []
        for c in cols:
            v = r.get(c)
            key = f"{v:.10g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else _cell(v)
            tds.append(f'<td data-v="{html.escape(key)}">{html.escape(_cell(v))}</td>')
        body.append(f"<tr>{''.join(tds)}</tr>")
    return (f'<table class="nbtrain-runs"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def runs(logdir="runs") -> Runs:
    """Every run under ``logdir`` (a folder holding ``nbtrain-run.json`` or TensorBoard event files)."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise NbtrainError(f"{logdir} is not a folder", "runs(logdir)",
                           "pass the logdir your runs were written to (LoopSpec.logdir, default 'runs')")
    return Runs(logdir, [read_record(d, logdir) for d in _run_dirs(logdir)])


__all__ = ["Diff", "Runs", "flatten", "runs", "spec_diff"]
