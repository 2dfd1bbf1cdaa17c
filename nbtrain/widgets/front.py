"""The two bits the core widgets cannot do, as small anywidget front ends (ESM, no build step): a model diagram
whose blocks select a row when clicked, and a Copy button that puts text on the clipboard. Without anywidget
both fall back to core widgets: the diagram as a plain HTML picture, the copy button hidden."""
from __future__ import annotations

import base64
import html
import math

import ipywidgets as W
import traitlets as T

DIAGRAM_PX = 118          # beside the rows: the Model tab fits 1300 px with JupyterLab's file browser open

DIAGRAM_ESM = """
function render({ model, el }) {
  const draw = () => {
    el.innerHTML = model.get("html");
    el.querySelectorAll("[data-row]").forEach((b) => {
      b.style.cursor = "pointer";
      b.addEventListener("click", () => { model.set("selected", Number(b.dataset.row)); model.save_changes(); });
    });
  };
  draw();
  model.on("change:html", draw);
}
export default { render };
"""

COPY_ESM = """
function render({ model, el }) {
  const b = document.createElement("button");
  b.className = "jupyter-widgets jupyter-button widget-button nbtrain-copy";
  b.title = model.get("tooltip");
  const label = () => { b.innerHTML = '<i class="fa fa-clipboard"></i> ' + model.get("description"); };
  label();
  b.addEventListener("click", async () => {
    const text = model.get("text");
    try { await navigator.clipboard.writeText(text); }
    catch (e) {            // no clipboard API (an insecure origin): the old way, through a selected textarea
      const ta = document.createElement("textarea");
      ta.value = text; document.body.appendChild(ta); ta.select(); document.execCommand("copy"); ta.remove();
    }
    model.set("copies", model.get("copies") + 1); model.save_changes();
  });
  model.on("change:description", label);
  el.appendChild(b);
}
export default { render };
"""


def _anywidget():
    try:
        import anywidget  # heavy optional front end: only the Workbench needs it
    except ImportError:
        return None
    return anywidget


def diagram_html(blocks: list[dict], selected: int = -1) -> str:
    """One block per layer, top to bottom, in the rows' order: width by the log of its output's size, its output
    shape beside it (its index and type in the tooltip: the row beside says them), the block at fault in the theme's
    error colour, the selected one outlined. ``blocks``: dicts of index, type, shape, size, error (and rank)."""
    top = max((math.log10(b["size"] + 1) for b in blocks if b["size"]), default=1) or 1
    out = []
    for b in blocks:
        width = 8 + 44 * math.log10(b["size"] + 1) / top if b["size"] else 8
        colour = ("var(--jp-error-color2, #ef9a9a)" if b["error"] else
                  "var(--jp-brand-color3, #bbdefb)" if b.get("rank", 1) > 1 else "var(--jp-success-color3, #c8e6c9)")
        ring = "outline:2px solid var(--jp-brand-color1, #1976d2);" if b["index"] == selected else ""
        tip = html.escape(f'{b["index"]} {b["type"]} \u2192 {b["shape"]}')
        out.append(
            f'<div data-row="{b["index"]}" title="{tip}" style="display:flex;align-items:center;'
            f'height:18px;margin:2px 0;font-size:11px;color:var(--jp-ui-font-color1)">'
            f'<div style="width:{width:.0f}px;flex:none;height:16px;background:{colour};'
            f'border-radius:3px;{ring}"></div>'
            f'<span style="margin-left:5px;white-space:nowrap">{html.escape(b["shape"])}</span></div>')
    return f'<div class="nbtrain-diagram" style="width:{DIAGRAM_PX - 4}px">' + "".join(out) + "</div>"


_CLASSES: dict = {}


def _classes(aw) -> dict:
    """The two anywidget classes, made once per process (a class made per call is a new front-end module each)."""
    if not _CLASSES:
        class ModelDiagram(aw.AnyWidget):
            _esm = DIAGRAM_ESM
            html = T.Unicode("").tag(sync=True)
            selected = T.Int(-1).tag(sync=True)

        class CopyButton(aw.AnyWidget):
            _esm = COPY_ESM
            text = T.Unicode("").tag(sync=True)
            description = T.Unicode("").tag(sync=True)
            tooltip = T.Unicode("").tag(sync=True)
            copies = T.Int(0).tag(sync=True)

        _CLASSES.update(diagram=ModelDiagram, copy=CopyButton)
    return _CLASSES


def make_diagram():
    """A widget with ``html`` (the picture) and ``selected`` (the row clicked, -1 none)."""
    aw = _anywidget()
    if aw is None:
        return W.HTML(layout=W.Layout(width=f"{DIAGRAM_PX}px", min_width=f"{DIAGRAM_PX}px"))
    w = _classes(aw)["diagram"]()
    w.layout = W.Layout(width=f"{DIAGRAM_PX}px", min_width=f"{DIAGRAM_PX}px")
    return w


def make_copy_button(description: str, tooltip: str):
    """A button that copies its ``text`` to the clipboard in the browser (``copies`` counts the clicks)."""
    aw = _anywidget()
    if aw is None:
        return W.HTML(layout=W.Layout(display="none"))
    return _classes(aw)["copy"](description=description, tooltip=tooltip)


def download_html(code: str, filename: str, label: str) -> str:
    """A link that saves ``code`` as ``filename`` (a data: URI: no file on the server, no JavaScript)."""
    data = base64.b64encode(code.encode()).decode()
    return (f'<a class="jupyter-button widget-button nbtrain-download" download="{html.escape(filename)}" '
            f'href="data:text/x-python;base64,{data}" style="display:inline-flex;align-items:center;'
            f'padding:0 8px;text-decoration:none"><i class="fa fa-download"></i>&nbsp;{html.escape(label)}</a>')
