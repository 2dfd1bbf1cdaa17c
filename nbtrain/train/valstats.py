"""What validation collects beside the mean loss and metrics, on the device in the same pass: the confusion matrix,
the k samples with the highest loss (classification), the predicted and true values (regression).

``ValStats.update`` launches a few small kernels per batch and never reads a value back (no ``.item()``, no
boolean indexing, no ``bincount``, which reads its input's max on CUDA); ``read`` is the one host transfer, at
validation end (under torch.distributed one all_reduce of the matrix and one all_gather of the worst samples).
"""
from __future__ import annotations

import copy

import torch

from ..env import one_cpu_thread
from ..spec.catalog import binary_threshold, loss_kind

TOP_K = 16               # worst samples kept per validation
MAX_POINTS = 2000        # regression: (true, pred) points kept per validation
SMALL = 1 << 16          # outputs of at most this many values: their ops run on one CPU thread
FOLD_EVERY = 1 << 16     # samples whose labels and losses wait on the device before they are folded in


def per_sample_loss(loss_fn):
    """``loss_fn`` with ``reduction='none'`` (a shallow copy; the weights are shared), or None when it has none."""
    if not isinstance(getattr(loss_fn, "reduction", None), str):
        return None
    fn = copy.copy(loss_fn)
    fn.reduction = "none"
    return fn


def per_class(cm: list[list[int]]) -> dict:
    """Precision, recall, F1 and support per class from a confusion matrix (rows true, columns predicted); a
    ratio whose denominator is 0 is 0 (sklearn's ``zero_division=0``)."""
    k = len(cm)
    tp = [cm[i][i] for i in range(k)]
    support = [sum(row) for row in cm]
    predicted = [sum(cm[r][c] for r in range(k)) for c in range(k)]

    def div(a, b):
        return a / b if b else 0.0
    return {"precision": [div(tp[i], predicted[i]) for i in range(k)],
            "recall": [div(tp[i], support[i]) for i in range(k)],
            "f1": [div(2 * tp[i], support[i] + predicted[i]) for i in range(k)],
            "support": support}


def for_run(loss_fn, num_classes=None, task: str = "", class_names=None, device="cpu", rank: int = 0,
            world_size: int = 1) -> ValStats | None:
    """The ValStats for a run's loss (its catalog kind, else the data's task), or None when neither says."""
    kind = loss_kind(loss_fn) or (task if task in ("classification", "regression") else "")
    if not kind:
        return None
    return ValStats(kind, loss_fn, num_classes if kind == "classification" else None, class_names, device,
                    threshold=binary_threshold(loss_fn), rank=rank, world_size=world_size)


class ValStats:
    """``kind``: 'classification' (argmax over dim 1 of (N, K) outputs), 'binary' (one logit per sample, positive
    above ``threshold``: K = 2) or 'regression'. ``num_classes`` None: K from the first output's width.

    Indices of the worst samples are positions in the validation order (the val loader is not shuffled, so they
    index its dataset); under torch.distributed with a DistributedSampler(shuffle=False), ``pos * world + rank``.
    """

    def __init__(self, kind: str, loss_fn=None, num_classes=None, class_names=None, device="cpu", *,
                 k: int = TOP_K, max_points: int = MAX_POINTS, threshold: float = 0.0, rank: int = 0,
                 world_size: int = 1):
        self.kind, self.k, self.max_points, self.threshold = kind, k, max_points, threshold
        self.num_classes = 2 if kind == "binary" else num_classes
        self.class_names = [str(c) for c in class_names] if class_names else None
        self.loss_none = per_sample_loss(loss_fn) if kind != "regression" else None
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.reset()

    def reset(self) -> None:
        self.seen = 0                     # samples so far (host-side count: shapes only)
        self.off = False                  # outputs this does not read (e.g. (N, C, H, W)): collect nothing
        self.cm = None                    # (K + 2) x K counts, flat: row 0 and row K + 1 take targets out of range
        self.top = None                   # (losses (m,), (3, m) int64: position, true, pred), worst first
        self.pending: list = []           # (loss or None, true, pred) per batch since the last fold
        self.pending_from, self.pending_n = 0, 0
        self.points: list = []            # regression: (true, pred) flattened chunks, at most max_points in all
        self.npoints = 0

    # -- per batch, on the device ----------------------------------------------------------------
    @torch.no_grad()
    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Per batch: the predicted class and the per-sample loss, kept on the device; the matrix and the top k
        are folded from them every FOLD_EVERY samples and at ``read`` (a few kernels over many batches at once)."""
        n = out.shape[0]
        if self.kind == "regression":
            self._points(out, y)
        elif not self.off:
            with one_cpu_thread(self.device.type == "cpu" and out.numel() <= SMALL):   # as the fast loader's batches
                true, pred = self._labels(out, y)
                if true is not None:
                    self.pending.append((self._sample_loss(out, y), true, pred))
                    self.pending_n += n
        self.seen += n
        if self.pending_n >= FOLD_EVERY:
            self._fold()

    def _labels(self, out, y):
        """(true, pred) as int64 (N,) on the device, or (None, None) for outputs this does not read."""
        n = out.shape[0]
        if self.kind == "binary":
            if out.numel() != n or y.numel() != n:
                self.off = True
                return None, None
            return (y.reshape(n) > 0.5).long(), (out.reshape(n) > self.threshold).long()
        if out.ndim != 2 or y.ndim != 1 or y.dtype.is_floating_point:
            self.off = True
            return None, None
        if self.num_classes is None:
            self.num_classes = out.shape[1]
        if out.shape[1] != self.num_classes:     # the first batch's checks say so; collect nothing meanwhile
            self.off = True
            return None, None
        return y.long(), out.argmax(1)

    def _sample_loss(self, out, y):
        if self.loss_none is None:
            return None
        if self.kind == "binary":
            y = y.reshape(out.shape).float()
        loss = self.loss_none(out if out.dtype == torch.float32 else out.float(), y)
        if loss.ndim == 0:                 # a loss that cannot give per-sample values: no worst samples
            self.loss_none = None
            return None
        return loss.reshape(out.shape[0], -1).mean(1) if loss.ndim > 1 else loss

    def _fold(self) -> None:
        """Add the pending batches to the matrix (one index_add_) and to the top k (one topk)."""
        chunks, self.pending = self.pending, []
        start, n = self.pending_from, self.pending_n
        self.pending_from, self.pending_n = start + n, 0
        if not chunks or self.off:
            return
        k = self.num_classes
        true, pred = torch.cat([c[1] for c in chunks]), torch.cat([c[2] for c in chunks])
        if self.cm is None:
            self.cm = torch.zeros((k + 2) * k, dtype=torch.int64, device=self.device)
        row = (true + 1).clamp_(0, k + 1)
        self.cm.index_add_(0, torch.add(pred, row, alpha=k), torch.ones_like(true))
        if self.loss_none is None or any(c[0] is None for c in chunks):
            return
        loss = torch.cat([c[0] for c in chunks]).float()
        pos = torch.arange(start, start + n, device=self.device)
        if self.world_size > 1:
            pos = pos * self.world_size + self.rank
        meta = torch.stack([pos, true, pred])
        if self.top is not None:
            loss, meta = torch.cat([self.top[0], loss]), torch.cat([self.top[1], meta], 1)
        best = loss.topk(min(self.k, loss.shape[0]))
        self.top = (best.values, meta[:, best.indices])

    def _points(self, out, y) -> None:
        need = self.max_points - self.npoints
        if need <= 0:
            return
        y = y.reshape(out.shape) if y.numel() == out.numel() and y.shape != out.shape else y
        if y.shape != out.shape:
            return
        t, p = y.detach().reshape(-1)[:need], out.detach().reshape(-1)[:need]
        self.points.append(torch.stack([t.float(), p.float()]))
        self.npoints += t.shape[0]

    # -- at validation end: the one transfer ---------------------------------------------------------
    def read(self) -> dict:
        """{"confusion", "top_losses", "class_names"} (classification), {"residuals"} (regression), or {}."""
        if self.kind == "regression":
            if not self.points:
                return {}
            tp = torch.cat(self.points, 1).cpu().tolist()
            return {"residuals": {"true": tp[0], "pred": tp[1]}}
        self._fold()
        k = self.num_classes
        if self.off or k is None:
            return {}
        cm = self.cm if self.cm is not None else torch.zeros((k + 2) * k, dtype=torch.int64, device=self.device)
        top = self.top if self.top is not None else (torch.zeros(0, device=self.device),
                                                     torch.zeros(3, 0, dtype=torch.int64, device=self.device))
        if self._distributed():
            cm, top = self._gather(cm, top)
        flat = cm[k:(k + 1) * k].cpu().tolist()          # rows 1..K: the targets in range
        rows = [flat[i * k:(i + 1) * k] for i in range(k)]
        vals, meta = top[0].cpu().tolist(), top[1].cpu().tolist()
        worst = [{"index": int(i), "loss": float(v), "true": int(a), "pred": int(b)}
                 for v, i, a, b in zip(vals, *meta)]
        return {"confusion": rows, "top_losses": worst, "class_names": self.class_names}

    def _distributed(self) -> bool:
        return self.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()

    def _gather(self, cm, top):
        """Sum the matrices; each rank's worst k (padded to k with -inf) gathered, the k worst of them kept."""
        cm = cm.clone()
        torch.distributed.all_reduce(cm)
        vals, meta = top
        cols = torch.cat([vals.double()[None], meta.double()])
        cols = torch.cat([cols, torch.full((4, self.k - cols.shape[1]), -torch.inf, dtype=torch.float64,
                                           device=self.device)], 1)
        parts = [torch.empty_like(cols) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, cols)
        allc = torch.cat(parts, 1)
        allc = allc[:, allc[0].isfinite() | allc[0].isnan()]          # drop the padding
        allc = allc[:, allc[0].topk(min(self.k, allc.shape[1])).indices]
        return cm, (allc[0].float(), allc[1:].long())


def for_parts(p, device="cpu", rank: int = 0, world_size: int = 1) -> ValStats | None:
    """The ValStats for the loop's parts (nbtrain.build.parts.Parts), or None without validation data. Class names
    come from the DataBundle when the data came from one (``p.bundle``)."""
    if p.val is None:
        return None
    return for_run(p.loss_fn, p.num_classes, p.task, getattr(p.bundle, "class_names", None), device, rank, world_size)
