"""Share a run: the dashboard as ONE self-contained HTML file that opens in a browser with no kernel, no network.

The page runs the dashboard's own front end (chart.js, panels.js, live.js, live.css, inlined) on a stand-in for the
widget model that replays one message holding everything (the curves, LRs, notes, layer statistics, the insight
panel, the feature-map tiles) and has the run's meta; the controls that need a kernel are hidden. Below it, the spec
as JSON and the plain-PyTorch code nbtrain.to_code writes for it (when the run had a TrainSpec). No CDN, no
request: everything is in the file.

``export_html(source, path)``: ``source`` is a Dashboard, a background Run, a History, or a State. The page is the
run record (nbtrain.train.history: curves, LRs, notes, layer statistics, insight) read by the same Feed as the live
dashboard, whether the run is live or over; a dashboard adds its status line and its feature-map tiles.
"""
from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

from ...codegen import to_code
from ...errors import NbtrainError
from ...train.callbacks import State
from ...train.history import History
from . import panels, text
from .feed import Feed
from .view import HERE, esm_source

PAGE_CSS = """body { margin: 16px; background: #fff; }
.nbtrain-page h1 { font: 600 16px sans-serif; margin: 0 0 8px; }
.nbtrain-page details { margin-top: 12px; font-family: sans-serif; }
.nbtrain-page pre { background: #f6f6f6; padding: 8px; overflow: auto; max-height: 480px; font-size: 12px; }"""

# Replays the one message into the dashboard's own module: model.get (traits), model.on (custom messages), send.
BOOT = """
const DATA = JSON.parse(document.getElementById("nbtrain-data").textContent);
const handlers = {};
const model = {get: k => DATA.traits[k], on: (ev, f) => { (handlers[ev] = handlers[ev] || []).push(f); },
               send: () => {}};
NBTRAIN_WIDGET.initialize({model});
NBTRAIN_WIDGET.render({model, el: document.getElementById("nbtrain-dashboard")});
for (const f of handlers["msg:custom"] || []) f(DATA.message);
document.body.dataset.ready = "1";
"""


def _json(obj) -> str:
    """JSON safe inside a <script> element (no "</" sequence ends it early)."""
    return json.dumps(panels.clean(obj), allow_nan=False).replace("</", "<\\/")


def _source(obj):
    """(the run record, the run's State or None, the Dashboard or None) of a Dashboard, a background Run (its
    dashboard when it has one), a History or a State."""
    dash = obj if hasattr(obj, "head") and hasattr(obj, "images") else getattr(obj, "dashboard", None)
    if dash is not None and dash.record is not None:
        return dash.record, dash.state, dash
    if isinstance(obj, History):
        return obj, None, None
    state = obj if isinstance(obj, State) else getattr(obj, "state", None)
    record = getattr(obj, "history", None)
    if not isinstance(record, History):
        raise NbtrainError(f"cannot export a {type(obj).__name__}", "export_html(source)",
                           "pass what fit() returned (a History or a background Run) or a Dashboard")
    return record, state, None


def _finished(record) -> tuple[dict, dict]:
    """The status part and the meta of a record no dashboard shows: the run as it ended (or is now)."""
    head = {"status": text.record_line(record), "progress": [1, 1], "paused": False, "error": "", "reach": True,
            "memory": ""}
    meta = {"label": "", "past": [], "total": 0, "smooth": 0.6, "spe": 0, "features": False, "kernels": False,
            "layers": panels.layer_meta(record)}
    return head, meta


def _code(state) -> tuple[str, str]:
    """The run's spec as JSON (its loop settings as the run used them) and its plain-PyTorch code, or ""."""
    spec = getattr(state, "spec", None)
    if spec is None:
        return "", ""
    if getattr(state, "loop_spec", None) is not None:        # fit(spec, epochs=...) and the like: what ran
        spec = dataclasses.replace(spec, loop=state.loop_spec)
    try:
        code = to_code(spec)
    except Exception:  # a spec to_code cannot write: the page has the spec, no code
        code = ""
    return spec.to_json(), code


def page(obj, title: str = "") -> str:
    """The whole HTML page of ``obj``'s dashboard, as a string: the run record read by a fresh Feed, as the live
    dashboard reads it (its status line and image tiles when ``obj`` has a dashboard)."""
    record, state, dash = _source(obj)
    head, meta = (dash.head(), dash.meta()) if dash is not None else _finished(record)
    loader = record.val_loader if record.val_loader is not None else getattr(state, "val_loader", None)
    insight = panels.insight(record, loader, len(record.epochs))
    message = Feed().take(record, head, dash.images if dash is not None else None, insight, final=True)
    meta = {**meta, "past": [], "static": True}
    title = title or (getattr(state, "run_name", "") or "nbtrain run")
    spec_json, code = _code(state)
    data = {"traits": {"key": "export", "meta": meta, "final": "", "final_status": ""}, "message": message}
    module = esm_source().replace("export default {", "const NBTRAIN_WIDGET = {", 1)
    if "const NBTRAIN_WIDGET" not in module or "</script" in module.lower():
        raise NbtrainError("the dashboard's front end cannot be inlined", "export_html", "report this as a bug")
    extra = "".join(f"<details><summary>{name}</summary><pre>{html.escape(text)}</pre></details>"
                    for name, text in (("spec (JSON)", spec_json), ("code (plain PyTorch)", code)) if text)
    css = (HERE / "live.css").read_text(encoding="utf-8")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>\n"
            f"<style>{css}\n{PAGE_CSS}</style></head>\n<body class=\"nbtrain-page\"><h1>{html.escape(title)}</h1>\n"
            f"<div id=\"nbtrain-dashboard\"></div>\n{extra}\n"
            f"<script type=\"application/json\" id=\"nbtrain-data\">{_json(data)}</script>\n"
            f"<script type=\"module\">\n{module}\n{BOOT}</script>\n</body></html>\n")


def default_path(state) -> Path:
    """``<run dir>/dashboard.html`` for a run that logs to TensorBoard, else ``./<run name>.html``."""
    if getattr(state, "run_dir", None) is not None:
        return Path(state.run_dir) / "dashboard.html"
    return Path.cwd() / f"{getattr(state, 'run_name', '') or 'nbtrain-run'}.html"


def export_html(source, path) -> Path:
    """Write ``source``'s dashboard (a Dashboard, a background Run, a History or a State) to ``path`` as one
    self-contained HTML file: curves, layer and insight panels, spec and code; returns the path."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise NbtrainError(f"{path} does not end in .html", "export_html(path)", "give a path such as 'run.html'")
    if not path.parent.is_dir():
        raise NbtrainError(f"the folder {path.parent} does not exist", "export_html(path)",
                           "create it first, or give a path in an existing folder")
    path.write_text(page(source), encoding="utf-8")
    return path
