"""Matplotlib figures and image tensors as PNG bytes in an ipywidgets Image, updated in place.

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


def tensor_png(img) -> bytes:
    """A (C, H, W) float image tensor as PNG bytes; values outside [0, 1] are rescaled to it."""
    from torchvision.utils import save_image
    img = img.detach().float().cpu()
    lo, hi = float(img.min()), float(img.max())
    if lo < 0 or hi > 1:
        img = (img - lo) / max(hi - lo, 1e-12)
    buf = io.BytesIO()
    save_image(img, buf, format="png")
    return buf.getvalue()


class FigureImage:
    """An Image widget showing one figure; ``redraw()`` re-renders it into the same widget."""

    def __init__(self, fig=None, **layout):
        import ipywidgets as W
        self.fig = fig if fig is not None else new_figure()
        self.widget = W.Image(format="png", layout=W.Layout(**layout) if layout else None)

    def redraw(self) -> bytes:
        png = figure_png(self.fig)
        self.widget.value = png
        return png
