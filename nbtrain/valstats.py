"""What validation collects beside the mean loss and metrics, on the device in the same pass: the confusion matrix,
the k samples with the highest loss (classification), the predicted and true values (regression).

``ValStats.update`` launches a few small kernels per batch and never reads a value back (no ``.item()``, no
boolean indexing, no ``bincount``, which reads its input's max on CUDA); ``read`` is the one host transfer, at
validation end (under torch.distributed one all_reduce of the matrix and one all_gather of the worst samples).
"""
from __future__ import annotations

import copy

import torch

from .catalog import loss_kind

TOP_K = 16               # worst samples kept per validation
MAX_POINTS = 2000        # regression: (true, pred) points kept per validation


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
                    rank=rank, world_size=world_size)


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
        self.cm = None
        z, dev = torch.zeros(0, dtype=torch.int64, device=self.device), self.device
        self.top = {"loss": torch.zeros(0, device=dev), "index": z, "true": z, "pred": z}
        self.points: list = []            # regression: (true, pred) flattened chunks, at most max_points in all
        self.npoints = 0

    # -- per batch, on the device ----------------------------------------------------------------
    @torch.no_grad()
    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        n = out.shape[0]
        if self.kind == "regression":
            self._points(out, y)
        elif not self.off:
            true, pred = self._labels(out, y)
            if true is not None:
                self._confusion(true, pred)
                if self.loss_none is not None:
                    self._worst(out, y, true, pred)
        self.seen += n

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
        return y.long(), out.argmax(1)

    def _confusion(self, true, pred) -> None:
        k = self.num_classes
        if self.cm is None:              # one bin past the matrix takes targets out of range (ignore_index)
            self.cm = torch.zeros(k * k + 1, dtype=torch.int64, device=self.device)
        ok = (true >= 0) & (true < k)
        code = torch.where(ok, true * k + pred.clamp(0, k - 1), k * k)
        self.cm.index_add_(0, code, torch.ones_like(code))

    def _worst(self, out, y, true, pred) -> None:
        n = out.shape[0]
        loss = self.loss_none(out.float(), y if self.kind != "binary" else y.reshape(out.shape).to(torch.float32))
        loss = loss.reshape(n, -1).mean(1).float() if loss.ndim else loss.expand(n)
        pos = torch.arange(self.seen, self.seen + n, device=self.device)
        if self.world_size > 1:
            pos = pos * self.world_size + self.rank
        t = self.top
        vals = torch.cat([t["loss"], loss])
        best = vals.topk(min(self.k, vals.shape[0])).indices
        self.top = {"loss": vals[best], "index": torch.cat([t["index"], pos])[best],
                    "true": torch.cat([t["true"], true])[best], "pred": torch.cat([t["pred"], pred])[best]}

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
        k = self.num_classes
        if self.off or k is None:
            return {}
        cm = self.cm if self.cm is not None else torch.zeros(k * k + 1, dtype=torch.int64, device=self.device)
        top = self.top
        if self._distributed():
            cm, top = self._gather(cm, top)
        flat = cm[:k * k].cpu().tolist()
        rows = [flat[i * k:(i + 1) * k] for i in range(k)]
        cols = {name: t.cpu().tolist() for name, t in top.items()}
        worst = [{"index": int(i), "loss": float(v), "true": int(a), "pred": int(b)}
                 for i, v, a, b in zip(cols["index"], cols["loss"], cols["true"], cols["pred"])]
        return {"confusion": rows, "top_losses": worst, "class_names": self.class_names}

    def _distributed(self) -> bool:
        return self.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()

    def _gather(self, cm, top):
        """Sum the matrices; each rank's worst k (padded to k with -inf) gathered, the k worst of them kept."""
        cm = cm.clone()
        torch.distributed.all_reduce(cm)
        m = top["loss"].shape[0]
        cols = torch.stack([torch.cat([top["loss"].double(), torch.full((self.k - m,), -torch.inf,
                                                                         dtype=torch.float64, device=self.device)])]
                           + [torch.cat([top[c].double(), torch.zeros(self.k - m, dtype=torch.float64,
                                                                      device=self.device)])
                              for c in ("index", "true", "pred")])
        parts = [torch.empty_like(cols) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, cols)
        allc = torch.cat(parts, 1)
        keep = allc[0].isfinite() | allc[0].isnan()
        allc = allc[:, keep]
        best = allc[0].topk(min(self.k, allc.shape[1])).indices
        allc = allc[:, best]
        return cm, {"loss": allc[0].float(), "index": allc[1].long(), "true": allc[2].long(), "pred": allc[3].long()}


def for_parts(p, data=None, device="cpu", rank: int = 0, world_size: int = 1) -> ValStats | None:
    """The ValStats for the loop's parts (nbtrain.parts.Parts; ``data``: what fit() was given as data=), or None
    without validation data. Class names come from the DataBundle when there is one."""
    if p.val is None:
        return None
    bundle = p.extra.get("bundle", data)
    return for_run(p.loss_fn, p.num_classes, p.task, getattr(bundle, "class_names", None), device, rank, world_size)
