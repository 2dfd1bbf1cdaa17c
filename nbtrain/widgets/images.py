"""Matplotlib figures as PNG bytes in an ipywidgets Image, updated in place (image tensors: nbtrain.viz.grid_png).

Figures are drawn with the Agg canvas directly (no pyplot state), so redrawing is cheap and
works in any kernel and in tests.
"""
from __future__ import annotations

import io


def new_figure(width: float = 5.0, height: float = 3.0, dpi: int = 80):
    """A matplotlib Figure attached to an Agg canvas, outside pyplot's figure manager."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig) -> bytes:
    """The figure rendered to PNG bytes."""
    buf = io.BytesIO()
    fig.canvas.print_png(buf)
    return buf.getvalue()
