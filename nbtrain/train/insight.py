"""What a model gets wrong, from what validation collected (nbtrain.train.valstats, kept in the History): the samples
with the highest loss, and figures of them, of the confusion matrix and of regression residuals.

``run``: a History, a background ``nbtrain.Run``, or a run's folder (its ``nbtrain-run.json``). The figures are
matplotlib ``Figure`` objects on the Agg canvas (nbtrain.viz.new_figure: no pyplot), drawn on demand or, for
TensorBoard, in its writer thread at epoch ends; never during a live run on the kernel's thread.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import viz
from ..build.data.fast import run_tail
from ..errors import NbtrainError
from .history import History
from .runfile import FILENAME, read_run

__all__ = ["history_of", "top_losses", "plot_top_losses", "confusion_figure", "confusion_image", "plot_confusion",
           "residuals_figure", "plot_residuals", "figure_rgb"]


def history_of(run, where: str = "run") -> History:
    """The History of a History, a background Run, or a run folder holding nbtrain-run.json."""
    if isinstance(run, History):
        return run
    h = getattr(run, "history", None)
    if isinstance(h, History):
        return h
    if isinstance(run, (str, Path)):
        f = Path(run) / FILENAME if Path(run).is_dir() else Path(run)
        if not f.is_file():
            raise NbtrainError(f"{f} does not exist", where, "give a run folder that holds nbtrain-run.json")
        return History.from_dict(read_run(f).get("history", {}))
    raise NbtrainError(f"expected a History, a Run or a run folder, got {type(run).__name__}", where,
                       "pass what fit() returned, e.g. h = nb.fit(...); nb.top_losses(h)")


def _name(names, i: int) -> str:
    return str(names[i]) if names and 0 <= i < len(names) else str(i)


def val_sample(data, i: int):
    """Sample ``i`` of the validation data as the model sees it: a Dataset, DataLoader, the fast loader (its cached
    tensors, then its tail), a DataBundle or (x, y). Also the dashboard's top-loss thumbnails."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return data[0][i]
    if hasattr(data, "val_set"):                 # a DataBundle: the val samples through the val pipeline
        data = data.val_set
    if hasattr(data, "x") and hasattr(data, "tail"):     # nbtrain's fast loader: cached tensors, then its tail
        x = data.x[i:i + 1]
        return (run_tail(data.tail, x, torch.Generator(device=x.device)) if data.tail else x)[0]
    ds = getattr(data, "dataset", data)
    return ds[i][0]


def top_losses(run, k: int = 9, data=None) -> list[dict]:
    """The ``k`` validation samples with the highest loss at the latest validation, worst first: dicts with
    ``index``, ``loss``, ``true``, ``pred`` (class indices), ``true_name``, ``pred_name`` and ``x`` (the sample as
    the model saw it: an image tensor (C, H, W), or a row of features). ``data``: where to draw the samples
    from (default: the run's validation loader, kept in its History while the kernel lives)."""
    h = history_of(run, "top_losses(run)")
    if not h.top_losses:
        raise NbtrainError("the run has no top losses", "top_losses(run)",
                           "they are collected while validating a classification run: give validation data and "
                           "a classification loss (CrossEntropyLoss, NLLLoss, BCEWithLogitsLoss)")
    data = data if data is not None else h.val_loader
    if data is None:
        raise NbtrainError("no validation data to draw the samples from", "top_losses(data=...)",
                           "pass data= the validation set (a Dataset, a DataLoader, a DataBundle or (x, y) tensors)")
    out = []
    for r in h.top_losses[:k]:
        x = val_sample(data, r["index"])
        out.append({**r, "true_name": _name(h.class_names, r["true"]), "pred_name": _name(h.class_names, r["pred"]),
                    "x": x.detach().cpu() if isinstance(x, torch.Tensor) else x})
    return out


def _as_image(x: torch.Tensor):
    """(H, W) or (H, W, 3) floats in [0, 1] for imshow (each image scaled to its own range)."""
    x = x.float()
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else x[:3].permute(1, 2, 0)
    lo, hi = x.min(), x.max()
    return ((x - lo) / (hi - lo) if hi > lo else x * 0).numpy()


def plot_top_losses(run, k: int = 9, data=None, ncols: int = 3):
    """A grid of the worst samples (images: the image, titled true / predicted / loss; rows of features: a table)."""
    items = top_losses(run, k, data)
    x0 = items[0]["x"]
    if not isinstance(x0, torch.Tensor) or x0.ndim <= 1:
        return _loss_table(items)
    ncols = max(1, min(ncols, len(items)))
    nrows = -(-len(items) // ncols)
    fig = viz.new_figure(2.2 * ncols, 2.4 * nrows, dpi=80)
    for j, r in enumerate(items):
        ax = fig.add_subplot(nrows, ncols, j + 1)
        img = _as_image(r["x"])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(f"{r['true_name']} / {r['pred_name']}\n{r['loss']:.3g}", fontsize=9,
                     color="C3" if r["true"] != r["pred"] else "black")
        ax.axis("off")
    fig.suptitle("true / predicted, loss", fontsize=10)
    return fig


def _loss_table(items: list[dict]):
    x0 = items[0]["x"]
    nf = x0.numel() if isinstance(x0, torch.Tensor) else len(x0)
    shown = min(nf, 8)
    cols = ["index", "true", "pred", "loss"] + [f"x{i}" for i in range(shown)] + (["..."] if nf > shown else [])
    rows = []
    for r in items:
        xs = [float(v) for v in (r["x"].reshape(-1)[:shown].tolist() if isinstance(r["x"], torch.Tensor)
                                 else list(r["x"])[:shown])]
        rows.append([r["index"], r["true_name"], r["pred_name"], f"{r['loss']:.3g}"] + [f"{v:.3g}" for v in xs]
                    + ([""] if nf > shown else []))
    fig = viz.new_figure(min(1.0 * len(cols), 14), 0.3 * (len(rows) + 2), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    ax.table(cellText=rows, colLabels=cols, loc="center")
    return fig


def confusion_figure(cm, names=None, title: str = "confusion matrix", max_labels: int = 30):
    """A heat map of ``cm`` (rows true, columns predicted), counts written in the cells up to 20 classes."""
    k = len(cm)
    side = min(2.5 + 0.35 * k, 9.0)
    fig = viz.new_figure(side, side, dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(cm, cmap="Blues", interpolation="nearest")
    ticks = list(range(k)) if k <= max_labels else []
    labels = [_name(names, i) for i in ticks]
    ax.set_xticks(ticks, labels, rotation=90 if any(len(s) > 2 for s in labels) else 0, fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if k <= 20:
        top = max((max(r) for r in cm), default=0)
        for i in range(k):
            for j in range(k):
                if cm[i][j]:
                    ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i][j] > top / 2 else "black")
    return fig


def confusion_image(cm, size: int = 256) -> torch.Tensor:
    """A (3, H, W) uint8 heat map of ``cm`` drawn with torch alone (no matplotlib: cheap enough for every epoch):
    each row coloured by the fraction of its true class's samples (white 0 to dark blue 1), one square per cell,
    a grey line between cells when they are at least 8 pixels."""
    m = torch.as_tensor(cm, dtype=torch.float64)
    frac = m / m.sum(1, keepdim=True).clamp(min=1)
    lo, hi = torch.tensor([247.0, 251.0, 255.0]), torch.tensor([8.0, 48.0, 107.0])   # matplotlib's Blues, ends
    rgb = lo[:, None, None] + (hi - lo)[:, None, None] * frac[None].float()
    cell = max(1, size // max(1, len(cm)))
    img = rgb.repeat_interleave(cell, 1).repeat_interleave(cell, 2)
    if cell >= 8:
        img[:, ::cell, :] = 160.0
        img[:, :, ::cell] = 160.0
    return img.round().to(torch.uint8)


def plot_confusion(run, epoch: int = -1):
    """The confusion matrix of one validation (default: the latest)."""
    h = history_of(run, "plot_confusion(run)")
    if not h.confusion:
        raise NbtrainError("the run has no confusion matrix", "plot_confusion(run)",
                           "it is collected while validating a classification run: give validation data")
    return confusion_figure(h.confusion[epoch], h.class_names)


def residuals_figure(true, pred):
    """Predicted against true (with the y = x line) and the residuals (predicted - true) against true."""
    fig = viz.new_figure(8.0, 3.5, dpi=80)
    a, b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    a.scatter(true, pred, s=6, alpha=0.5)
    lo, hi = min(min(true), min(pred)), max(max(true), max(pred))
    a.plot([lo, hi], [lo, hi], color="C3", lw=1)
    a.set(xlabel="true", ylabel="predicted", title="predicted vs true")
    b.scatter(true, [p - t for t, p in zip(true, pred)], s=6, alpha=0.5)
    b.axhline(0, color="C3", lw=1)
    b.set(xlabel="true", ylabel="predicted - true", title="residuals")
    return fig


def plot_residuals(run):
    """The latest validation's predicted-vs-true and residual plots of a regression run."""
    h = history_of(run, "plot_residuals(run)")
    if not h.residuals or not h.residuals.get("true"):
        raise NbtrainError("the run has no residuals", "plot_residuals(run)",
                           "they are collected while validating a regression run (MSELoss, L1Loss...)")
    return residuals_figure(h.residuals["true"], h.residuals["pred"])


def figure_rgb(fig):
    """The figure drawn as an (H, W, 3) uint8 tensor (for TensorBoard's add_image with dataformats='HWC')."""
    fig.canvas.draw()
    buf = memoryview(fig.canvas.buffer_rgba())
    h, w = buf.shape[:2]
    return torch.frombuffer(bytearray(buf), dtype=torch.uint8).reshape(h, w, 4)[..., :3]
