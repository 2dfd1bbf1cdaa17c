"""The live dashboard sink (``Dashboard``): numbers to an anywidget front end while a run is live, a PNG after.

sink.py   the Dashboard callback (events, updates by wall clock, the final PNG, text mode)
feed.py   what is new since the last update, as JSON; uint8 tiles; the curves of past runs
view.py   the anywidget and its comm (why clicks reach a busy kernel on a subshell)
text.py   the status line and text lines
live.js / live.css   the front end (SVG curves, canvas tiles, controls), themed with JupyterLab's --jp-* variables
"""
from .sink import Dashboard, wants_widgets

__all__ = ["Dashboard", "wants_widgets"]
