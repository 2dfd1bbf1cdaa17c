"""The live dashboard sink (``Dashboard``): numbers to an anywidget front end while a run is live, a PNG after.

sink.py   the Dashboard callback (events, updates by wall clock, the final PNG, text mode)
feed.py   what is new since the last update, as JSON; uint8 tiles; the curves of past runs
view.py   the anywidget and its comm (why clicks reach a busy kernel on a subshell)
text.py   the status line and text lines
panels.py the numbers of the layer panel (LayerStats) and the insight panel (confusion, top losses, residuals)
export.py the dashboard as one self-contained HTML file (export_html)
live.js / panels.js / chart.js / live.css   the front end (SVG curves, panels, canvas tiles, controls), themed
          with JupyterLab's --jp-* variables
"""
from .export import export_html
from .sink import Dashboard, wants_widgets

__all__ = ["Dashboard", "export_html", "wants_widgets"]
