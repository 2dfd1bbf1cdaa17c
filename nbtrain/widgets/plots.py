"""Figures the widgets redraw in place: the LR schedule (and the LR finder's loss curve, made by viz).

Each keeps one Agg figure and updates its lines, so a redraw is one ``print_png``.
"""
from __future__ import annotations

from ..viz import lr_find_figure, new_figure

__all__ = ["LRCurveFigure", "lr_find_figure"]


class LRCurveFigure:
    """LR against epoch for every param group, from ``lr_curve``'s list of lists."""

    def __init__(self, width: float = 5.5, height: float = 2.6):
        self.fig = new_figure(width, height, layout=None)
        self.ax = self.fig.add_subplot(1, 1, 1)
        self.fig.subplots_adjust(left=0.2, right=0.97, bottom=0.18, top=0.9)   # the y label whole
        self.lines = []

    def update(self, curves, steps_per_epoch: int) -> None:
        ax = self.ax
        n = max(len(c) for c in curves) if curves else 0
        xs = [t / max(steps_per_epoch, 1) for t in range(n)]
        while len(self.lines) < len(curves):
            (line,) = ax.plot([], [], lw=1.5)
            self.lines.append(line)
        for i, line in enumerate(self.lines):
            visible = i < len(curves)
            line.set_visible(visible)
            line.set_data(xs, curves[i] if visible else [])
            line.set_label("default group" if i == 0 else f"group {i}")
        ax.relim(visible_only=True)
        ax.autoscale_view()
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title(f"LR schedule: {n} steps", fontsize=10)
        if len(curves) > 1:
            ax.legend(loc="best", fontsize=8)
        elif ax.get_legend() is not None:
            ax.get_legend().remove()
