"""Metrics, and the on-device accumulator the loop reads only at log points (no host sync per step).

Each metric's batch function (a 0-d tensor on the device: the metric summed over the batch) is its
catalog entry's ``build`` (nbtrain.spec.catalog.METRICS); the Accumulator calls those. The mean forms here
are for users. Names in logs: ``accuracy``, ``top{k}_accuracy``, ``mae``.
"""
from __future__ import annotations

import torch

from ..spec.catalog import METRICS
from ..spec.catalog.losses import accuracy_sum, mae_sum, topk_sum

__all__ = ["accuracy_sum", "topk_sum", "mae_sum", "accuracy", "topk_accuracy", "mae", "metric_names", "metric_fns",
           "Accumulator", "means"]


def accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    return float(accuracy_sum(out, y)) / len(y)


def topk_accuracy(out: torch.Tensor, y: torch.Tensor, k: int = 5) -> float:
    return float(topk_sum(out, y, k)) / len(y)


def mae(out: torch.Tensor, y: torch.Tensor) -> float:
    return float(mae_sum(out, y)) / len(y)


def metric_names(metrics, topk: int = 5) -> list[str]:
    return [f"top{topk}_accuracy" if m == "topk_accuracy" else m for m in metrics]


def metric_fns(metrics, topk: int = 5, threshold: float = 0.0) -> list[tuple]:
    """(name in the logs, batch function, its keyword arguments) per metric, from the catalog: k for
    topk_accuracy, the binary threshold for accuracy (nbtrain.catalog.binary_threshold of the loss: 0.5 after a
    Sigmoid for BCELoss). The Accumulator calls these; an exported script gets the same triples."""
    names = metric_names(metrics, topk)
    entries = [METRICS.get_entry(m, "loop.metrics") for m in metrics]
    return [(n, e.build, {"k": topk} if e.param("k") else {"threshold": threshold} if e.param("threshold") else {})
            for n, e in zip(names, entries)]


class Accumulator:
    """Running sums of the loss and the metrics.

    On an accelerator they stay on the device: ``update`` launches a few small kernels and never reads a value
    back; ``read`` is the one host sync (and, under torch.distributed, the one all_reduce; ``stats``, when given,
    reduces its own at that point). On the CPU, where reading a value syncs nothing, ``update`` adds plain float64
    numbers instead (the same IEEE sums: 3 tensor operations a step for the loss and accuracy instead of 12, which
    on a small model's ~1 ms step is a few percent). It also tracks the first step whose loss was not finite, for
    the NaN guard. ``sums`` and ``clean`` read and set as tensors either way (checkpoints, reduce_window).
    """

    def __init__(self, metrics=("accuracy",), topk: int = 5, device="cpu", threshold: float = 0.0, stats=None,
                 host: bool | None = None):
        self.metrics, self.topk = list(metrics), topk
        self.stats = stats            # a ValStats (nbtrain.train.valstats) fed the same batches, read with the sums
        self.collected: dict = {}     # what ``stats`` read at the latest ``read`` (confusion, worst samples...)
        self.names = metric_names(self.metrics, topk)
        self.fns = [(fn, kw) for _, fn, kw in metric_fns(self.metrics, topk, threshold)]
        self.device = torch.device(device)
        self.host = self.device.type == "cpu" if host is None else host    # host=False: the device path (tests)
        self.reset()

    def reset(self) -> None:
        dt = self.dtype = torch.float32 if self.device.type == "mps" else torch.float64  # mps has no float64
        self.sums = torch.zeros(len(self.metrics) + 2, device=self.device, dtype=dt)
        self.clean = torch.ones((), device=self.device, dtype=dt)
        self.count = 0
        self.steps = 0
        if self.stats is not None:
            self.stats.reset()

    @property
    def sums(self) -> torch.Tensor:
        """(loss, metric..., clean steps) summed since the reset, as a tensor on the device."""
        return torch.tensor(self._sums, dtype=self.dtype, device=self.device) if self.host else self._sums

    @sums.setter
    def sums(self, t: torch.Tensor) -> None:
        self._sums = t.tolist() if self.host else t

    @property
    def clean(self) -> torch.Tensor:
        """1 while every loss since the reset was finite, else 0."""
        return torch.tensor(float(self._clean), dtype=self.dtype, device=self.device) if self.host else self._clean

    @clean.setter
    def clean(self, t: torch.Tensor) -> None:
        self._clean = float(t) if self.host else t

    def _stats(self, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor, n: int) -> list[torch.Tensor]:
        stats = [loss.detach().to(self.dtype) * n]
        stats += [fn(out, y, **kw) for fn, kw in self.fns]
        return stats

    @torch.no_grad()
    def update(self, loss: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> None:
        n, lo, out = out.shape[0], loss.detach(), out.detach()
        if self.host:
            v = float(lo)
            self._clean *= (v - v) == 0                # as below: inf - inf and NaN - NaN are NaN, not 0
            add = [v * n, *(float(fn(out, y, **kw)) for fn, kw in self.fns), self._clean]
            self._sums = [a + b for a, b in zip(self._sums, add)]
        else:
            self._clean = self._clean * ((lo - lo) == 0)   # isfinite in 2 ops, not 4: inf - inf and NaN are NaN, not 0
            stats = self._stats(lo, out, y, n)
            stats.append(self._clean)
            self._sums += torch.stack([s.to(self.dtype) for s in stats])
        if self.stats is not None:
            self.stats.update(out, y)
        self.count += n
        self.steps += 1

    def read(self) -> dict:
        """Totals as plain numbers: ``{"count", "steps", "loss", <metric>..., "clean_steps"}`` (sums, not means)."""
        t = torch.cat([self.sums, torch.tensor([self.count, self.steps], dtype=self.dtype, device=self.device)])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(t)
        v = t.tolist()
        if self.stats is not None:
            self.collected = self.stats.read()
        out = {"loss": v[0]}
        out.update(zip(self.names, v[1:-3]))
        out["clean_steps"], out["count"], out["steps"] = v[-3], v[-2], v[-1]
        return out

    def state_dict(self) -> dict:
        return {"sums": self.sums.cpu(), "clean": self.clean.cpu(), "count": self.count, "steps": self.steps}

    def load_state_dict(self, d: dict) -> None:
        self.sums, self.clean = d["sums"].to(self.device), d["clean"].to(self.device)
        self.count, self.steps = d["count"], d["steps"]


def means(totals: dict, names, prev: dict | None = None, prefix: str = "") -> dict:
    """Per-sample means from two ``Accumulator.read`` totals (the window since ``prev``)."""
    prev = prev or {}
    n = totals["count"] - prev.get("count", 0)
    if n <= 0:
        return {}
    out = {prefix + "loss": (totals["loss"] - prev.get("loss", 0.0)) / n}
    for m in names:
        out[prefix + m] = (totals[m] - prev.get(m, 0.0)) / n
    return out
