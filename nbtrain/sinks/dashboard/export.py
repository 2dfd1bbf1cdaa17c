"""Share a run: the dashboard as ONE self-contained HTML file that opens in a browser with no kernel, no network.

The page runs the dashboard's own front end (chart.js, panels.js, live.js, live.css, inlined) on a stand-in for the
widget model that replays one message holding everything (the curves, LRs, notes, layer statistics, the insight
panel, the feature-map tiles) and has the run's meta; the controls that need a kernel are hidden. Below it, the spec
as JSON and the plain-PyTorch code nbtrain.to_code writes for it (when the run had a TrainSpec). No CDN, no
request: everything is in the file.

``export_html(source, path)``: ``source`` is a Dashboard, a background Run, a History, or a State; what it can
reach is exported (a History alone has its curves and insight, not the layer statistics).
"""
from __future__ import annotations

import dataclasses
import html
import json
import types
from pathlib import Path

from ...codegen import to_code
from ...errors import NbtrainError
from ..layerstats import LayerStats
from . import panels
from .feed import Feed, numeric
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


class _Static:
    """What Feed.take reads of a dashboard, made from a History (and the run's State, when there is one)."""

    plan_version = img_version = insight_version = 0

    def __init__(self, history, state=None):
        self.state = state
        self.steps = [numeric(r) for r in getattr(history, "steps", [])]
        self.epochs = [numeric(r) for r in getattr(history, "epochs", [])]
        self.lr_rows = [[r.get("step", 0), [r[k] for k in _lr_keys(r)]] for r in self.steps if "lr" in r]
        self.images = {"fmap": {}, "kern": {}, "hist": []}
        self.layerstats = _find(state, LayerStats)
        loader = getattr(history, "val_loader", None) or getattr(state, "val_loader", None)
        n = len(self.epochs)
        self.insight = panels.insight(types.SimpleNamespace(history=history, val_loader=loader, epoch=n - 1))
        last = self.steps[-1]["step"] if self.steps and self.steps[-1].get("step") is not None else 0
        status = getattr(history, "status", "") or "finished"
        reason = getattr(history, "stop_reason", "")
        self.status = f"{n} epoch{'s' * (n != 1)} · step {last:.0f} · {status}" + (f": {reason}" if reason else "")

    def planned(self):
        return None

    def meta(self) -> dict:
        return {"label": "", "past": [], "total": 0, "smooth": 0.6, "spe": 0, "features": False, "kernels": False,
                "layers": panels.layer_meta(self.layerstats)}

    def head(self) -> dict:
        return {"status": self.status, "progress": [1, 1], "paused": False, "error": "", "reach": True, "memory": ""}


def _lr_keys(row: dict) -> list:
    """``lr``, ``lr_1``, ``lr_2``... of a log row, in group order."""
    return sorted((k for k in row if k == "lr" or k.startswith("lr_")), key=lambda k: int(k[3:] or 0))


def _find(state, cls):
    return next((c for c in getattr(state, "callbacks", None) or () if isinstance(c, cls)), None)


def _source(obj):
    """(the object Feed.take reads, the run's State or None) for a Dashboard, a Run, a History or a State."""
    if hasattr(obj, "feed") and hasattr(obj, "layerstats"):               # a Dashboard
        return obj, obj.state
    state = obj if hasattr(obj, "callbacks") and hasattr(obj, "history") else getattr(obj, "state", None)
    dash = next((c for c in getattr(state, "callbacks", None) or () if hasattr(c, "feed") and hasattr(c, "layerstats")
                 and c.steps), None)
    if dash is not None:
        return dash, state
    history = getattr(obj, "history", None) if not hasattr(obj, "epochs") else obj
    if history is None or not hasattr(history, "epochs"):
        raise NbtrainError(f"cannot export a {type(obj).__name__}", "export_html(source)",
                           "pass what fit() returned (a History or a background Run) or a Dashboard")
    return _Static(history, state), state


def _code(state) -> tuple[str, str]:
    """The run's spec as JSON (its loop settings as the run used them) and its plain-PyTorch code, or ""."""
    spec = getattr(state, "spec", None)
    if spec is None:
        return "", ""
    if getattr(state, "loop_spec", None) is not None:        # fit(spec, epochs=...) and the like: what ran
        spec = dataclasses.replace(spec, loop=state.loop_spec)
    try:
        code = to_code(spec)
    except Exception:  # noqa: BLE001 - a spec to_code cannot write: the page has the spec, no code
        code = ""
    return spec.to_json(), code


def page(obj, title: str = "") -> str:
    """The whole HTML page of ``obj``'s dashboard, as a string."""
    src, state = _source(obj)
    message = Feed().take(src, final=True)
    meta = {**src.meta(), "past": [], "static": True}
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
