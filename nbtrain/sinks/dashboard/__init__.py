"""The live dashboard sink (``Dashboard``): numbers to an anywidget front end while a run is live; after it, the
widget stays and a PNG of every panel joins it in the cell's display (what a saved notebook shows).

sink.py   the Dashboard callback (events, updates by wall clock, the final PNG, text mode)
feed.py   what is new since the last update, as JSON; uint8 tiles; the curves of past runs
view.py   the anywidget and its comm (why clicks reach a busy kernel on a subshell)
text.py   the status line and text lines
panels.py the numbers of the layer panel (LayerStats) and the insight panel (confusion, top losses, residuals)
export.py the dashboard as one self-contained HTML file (export_html)
picture.py the final picture (matplotlib, once the run has ended): every panel, in the run's theme and language
chart.js  one SVG chart (axes and their titles, lines thinned to a few points per pixel column, markers, zoom box)
charts.js the curve charts of a view: legends, one shared x-range (drag to zoom all), the tooltip at the pointer
live.js / panels.js / live.css   the store, controls, tiles and panels; themed with JupyterLab's --jp-* variables
          and Okabe-Ito colours; words from i18n.json's chart.* strings (English or Chinese)
"""
from .export import export_html
from .sink import Dashboard, wants_widgets

__all__ = ["Dashboard", "export_html", "wants_widgets"]
