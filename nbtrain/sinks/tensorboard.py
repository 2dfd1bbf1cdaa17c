"""TensorBoard through tensorboardX: scalars, LRs, histograms, feature maps, kernels, graph, hparams, spec.

Tags: ``train/<metric>`` and ``lr/group_<i>`` at every log point (x: step); ``epoch/<metric>`` and ``epoch/val_<metric>``
at every epoch end (x: epoch); ``weights/<param>`` and ``grads/<param>`` histograms, ``features/<conv layer>`` (feature
maps of a fixed probe batch) and ``kernels/<conv layer>`` images at epoch ends (every epoch unless they would take more
than ``budget`` of the time: then at the first and last epochs and as often as the budget allows between); for
classification with validation, ``val_precision/<class>``, ``val_recall/<class>`` and ``val_f1/<class>`` at every epoch
end (up to 100 classes) and the ``confusion_matrix`` image with the other images (a heat map drawn with torch: no
matplotlib during the run), and at the run's end ``confusion_matrix/labelled`` (matplotlib: class names and counts, up
to 30 classes); the layer statistics the run record holds (nbtrain.sinks.layerstats: ``layers/grad_norm/<layer>`` and
``layers/update_ratio/<layer>`` at each log point's step, ``layers/act_mean|act_std|dead/<layer>`` at each epoch); the
model graph (nbtrain.sinks.graph: no ``tensorboard`` package needed); the spec as text (``spec``); and at the end the
hparams with the final metrics (``hparam/<metric>``), all in the one run directory.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

from .. import viz
from ..build.modes import eval_mode
from ..env import one_cpu_thread
from ..errors import NbtrainError
from ..train import features, insight
from ..train.callbacks import Callback, due_within_budget
from ..train.rundirs import check_writable
from ..train.writefaults import Kept, Watched, thread_failure, write_failure
from .graph import graph_def
from .tbvalues import histogram, image, write_scalars


def _writer(run_dir: str):
    try:
        from tensorboardX import SummaryWriter  # tensorboardX: only a run that logs to TensorBoard needs it
    except ImportError:
        raise NbtrainError("tensorboardX is not installed", "loop.logdir",
                           "pip install tensorboardX, or set logdir='' to run without TensorBoard") from None
    return SummaryWriter(logdir=run_dir, flush_secs=30)


def keep_errors(writer) -> Kept | None:
    """tensorboardX's record writer behind ``Kept``: a failed write (a full disk) no longer kills its writer thread,
    which would leave training blocked forever in ``Queue.put``; None for a writer of another make."""
    events = getattr(getattr(getattr(writer, "file_writer", None), "event_writer", None), "_ev_writer", None)
    inner = getattr(events, "_py_recordio_writer", None)
    if inner is None:
        return None
    events._py_recordio_writer = kept = Kept(inner)
    return kept


def watch_thread(writer) -> Watched | None:
    """tensorboardX's event file writer behind ``Watched``: its thread failing otherwise never blocks training."""
    efw = getattr(getattr(writer, "file_writer", None), "event_writer", None)
    return Watched(efw) if hasattr(efw, "_worker") and hasattr(efw, "_event_queue") else None


LABELLED_COST = 0.6     # seconds: matplotlib draws a labelled 10x10 confusion matrix with counts in 0.3-0.9 s


def spare_core(device) -> bool:
    """Whether a worker thread has a core of its own: training on an accelerator, or torch's CPU threads fewer than
    the cores (``torch.set_num_threads(1)`` on two). Else it would take slices from torch's threads, whose parallel
    ops then wait at their barriers: the epoch-end work is cheaper done in the loop's thread."""
    if torch.device(device or "cpu").type != "cpu":
        return True
    return torch.get_num_threads() < (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                                      os.cpu_count() or 1)


def _square(n: int) -> int:
    """Images per row of a squarish grid of ``n`` (at most 64 are drawn)."""
    return max(1, math.ceil(math.sqrt(min(n, 64))))


def _hparams_of(state) -> dict:
    hp, s = {}, state.spec
    if s is not None:
        hp.update({"dataset": s.data.dataset, "batch_size": s.data.batch_size, "optimizer": s.optim.type,
                   "lr": s.optim.lr, "scheduler": s.sched.type or "none", "layers": len(s.model.layers),
                   "loss": s.loop.loss, "amp": s.loop.amp, "seed": s.loop.seed})
    elif state.optimizer is not None:
        hp.update({"optimizer": type(state.optimizer).__name__, "lr": state.optimizer.param_groups[0]["lr"]})
    hp.update(epochs=state.epochs, params=sum(p.numel() for p in state.model.parameters()))
    return hp


# Model graphs by structure: a rerun of a model made of torch.nn layers only writes the graph it traced
# before (torch.jit.trace runs the model twice: 50 ms for the default CNN on a small CPU).
_GRAPHS: OrderedDict = OrderedDict()
_GRAPHS_LOCK = threading.Lock()


def _graph_key(model: nn.Module, x: torch.Tensor):
    """What the traced graph depends on, for models of torch.nn layers only (None: trace it every time)."""
    if not all(type(m).__module__.startswith("torch.nn.") for m in model.modules()):
        return None
    shapes = tuple((n, tuple(t.shape), t.dtype) for n, t in list(model.named_parameters()) + list(model.named_buffers()))
    return repr(model), tuple(type(m) for m in model.modules()), shapes, tuple(x.shape), x.dtype


def traced_graph(model: nn.Module, x: torch.Tensor):
    """The GraphDef of ``model`` on ``x`` (nbtrain.sinks.graph: torch's tracer, tensorboardX's protos)."""
    key = _graph_key(model, x)
    with _GRAPHS_LOCK:
        if key is not None and key in _GRAPHS:
            _GRAPHS.move_to_end(key)
            return _GRAPHS[key]
    g = graph_def(model, x)
    if key is not None:
        with _GRAPHS_LOCK:
            _GRAPHS[key] = g
            while len(_GRAPHS) > 8:
                _GRAPHS.popitem(last=False)
    return g


class TensorBoard(Callback):
    """``background``: where histograms, grids and PNG encoding run. 'auto' (default): in a worker thread when it
    has a core of its own (an accelerator run, or fewer torch threads than cores; the loop's thread then snapshots
    clones of weights, gradients and feature maps only), else in the loop's thread at the epoch end (torch's threads
    already use every core: a worker would take slices from them and stall their parallel ops). True / False force
    either. On a CPU that work runs on one torch thread (``nbtrain.env.one_cpu_thread``): its small ops gain nothing
    from torch's pool, and at 2 threads on 2 cores each one waits at the pool's barrier (7x the CPU under load).

    Scalars are handed to tensorboardX's writer thread in batches, every ``hand_every`` seconds at a log point and
    at each epoch end, interrupt and the run's end (each hand-over wakes that thread; its own flush to disk runs
    every 30 s), so the writer thread wakes a few times a minute, not at every log point.

    ``budget``: histograms and images (the confusion matrix's too) take at most this fraction of the time (their CPU
    cost, measured), besides the first and last epoch; ``budget=1`` writes them at every epoch end. To set it with
    fit(), pass ``callbacks=[TensorBoard("runs/name", budget=1)]`` and leave ``logdir`` empty. ``confusion``: the
    confusion matrix images of a classification run with validation."""

    needs_probe = True            # fit() gives it a fixed input batch (state.probe) for graph and features

    def __init__(self, run_dir, histograms: bool = True, feature_maps: bool = True, graph: bool = True,
                 writer_factory=_writer, background="auto", budget: float = 0.005, clock=time.monotonic,
                 hand_every: float = 10.0, confusion: bool = True):
        self.run_dir = Path(run_dir)
        check_writable(self.run_dir, "loop.logdir")
        self.histograms, self.feature_maps, self.graph = histograms, feature_maps, graph
        self.writer_factory = writer_factory
        self.background = background
        self.budget, self.clock, self.hand_every = budget, clock, hand_every
        self.confusion = confusion
        self._pending: list = []              # (tag, value, step) not yet handed to the writer
        self._handed_at = 0.0
        self.writer = None
        self.worker: ThreadPoolExecutor | None = None
        self._job = None                      # the epoch's images being written (a Future), at most one
        self.heavy_epochs: list[int] = []     # the epochs whose histograms and images were written
        self._heavy_at, self._snap_cost, self._job_cost = None, 0.0, 0.0

    # -- events -----------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        self.writer = self.writer_factory(str(self.run_dir))
        self._kept, self._watch, self._failed = keep_errors(self.writer), watch_thread(self.writer), False
        worker = spare_core(state.device) if self.background == "auto" else bool(self.background)
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="nbtrain-tensorboard") if worker else None
        self._job, self._pending, self._handed_at = None, [], self.clock()
        self._layers_at = [0, 0]              # the record's layer rows and activation rows written so far
        self.heavy_epochs, self._heavy_at, self._snap_cost, self._job_cost = [], None, 0.0, 0.0
        self._started = self.clock()
        if state.spec is not None:
            self.writer.add_text("spec", "```json\n" + state.spec.to_json() + "\n```", 0)
        probe = state.probe
        if self.graph and probe is not None:
            self._graph(state.model, probe[0].to(state.device))

    def on_log(self, state, logs: dict) -> None:
        for k, v in logs.items():
            if k in ("step", "epoch") or not isinstance(v, (int, float)):
                continue
            tag = f"lr/group_{k[3:] or 0}" if k.startswith("lr") else f"train/{k}"
            self._pending.append((tag, v, state.step))
        if self.clock() - self._handed_at >= self.hand_every:
            self._hand_over()

    def _hand_over(self, check: bool = True) -> None:
        """Give the scalars logged since the last hand-over to the writer (its thread writes them)."""
        pending, self._pending, self._handed_at = self._pending, [], self.clock()
        write_scalars(self.writer, pending)
        fault = self._fault() if check else None
        if fault is not None:
            raise fault

    def _fault(self):
        """The error the writer thread kept (a full or read-only disk under the logs, or another), once; else None."""
        kept, watch = self._kept, self._watch
        path = getattr(getattr(kept, "inner", None), "path", self.run_dir)
        fault = (write_failure(path, kept.error, "loop.logdir") if kept is not None and kept.error is not None else
                 thread_failure(path, watch.error) if watch is not None and watch.error is not None else None)
        if fault is None or self._failed:
            return None
        self._failed = True
        return fault

    def on_epoch_end(self, state, logs: dict) -> None:
        epoch = logs.get("epoch", state.epoch + 1)
        self._pending += [(f"epoch/{k}", v, epoch) for k, v in logs.items()
                          if k not in ("step", "epoch") and not k.startswith("lr") and isinstance(v, (int, float))]
        cm = self._per_class(state, epoch)
        self._layer_scalars(state.history)
        self._hand_over()
        if not (self.histograms or self.feature_maps or cm is not None) or not self._heavy_due(state):
            return
        with one_cpu_thread(torch.device(state.device or "cpu").type == "cpu"):   # tiny ops: no intra-op barriers
            params, grads, fmaps, convs = self._snapshot(state, epoch, time.thread_time())
            job = lambda: self._write_epoch(epoch, params, grads, fmaps, convs, cm)  # noqa: E731
            if self.worker is not None:
                self._wait()       # at most one epoch's images in flight; raises a failed job's error here
                self._job = self.worker.submit(job)
            else:
                job()

    def _per_class(self, state, epoch: int):
        """Per-class scalars of the latest validation; its confusion matrix to draw, or None."""
        h = state.history
        pcs = getattr(h, "per_class", None)
        if not pcs or state.val_loader is None:
            return None
        pc, names = pcs[-1], h.class_names
        if len(pc["support"]) <= 100:
            self._pending += [(f"val_{key}/{names[i] if names else i}", v, epoch)
                              for key in ("precision", "recall", "f1") for i, v in enumerate(pc[key])]
        return h.confusion[-1] if self.confusion and h.confusion else None

    def _layer_scalars(self, h) -> None:
        """The layer statistics the record got since the last call: gradient norm and update ratio at their log
        point's step, activation mean, std and dead fraction at their epoch."""
        if h is None or not hasattr(h, "layer_rows"):
            return
        rows, acts = h.layer_rows[self._layers_at[0]:], h.act_rows[self._layers_at[1]:]
        self._layers_at = [len(h.layer_rows), len(h.act_rows)]
        self._pending += [(f"layers/{tag}/{name.replace(' ', '_')}", v, r["step"]) for r in rows
                          for key, tag in (("grad", "grad_norm"), ("update", "update_ratio"))
                          for name, v in zip(h.layer_names, r[key]) if v is not None]
        self._pending += [(f"layers/{tag}/{name.replace(' ', '_')}", v, a["epoch"]) for a in acts
                          for key, tag in (("mean", "act_mean"), ("std", "act_std"), ("dead", "dead"))
                          for name, v in zip(h.act_names, a[key]) if v is not None]

    def _snapshot(self, state, epoch: int, t: float):
        """Clones of weights and gradients and the probe's feature maps: the next step changes them in place."""
        params = grads = fmaps = convs = None
        if self.histograms:        # snapshots: the next step changes the tensors in place
            params = {n: p.detach().clone() for n, p in state.model.named_parameters()}
            grads = {n: p.grad.detach().clone() for n, p in state.model.named_parameters() if p.grad is not None}
        if self.feature_maps:
            probe = state.probe
            if probe is not None and probe[0].ndim == 4:        # images: the first probe sample's maps
                fmaps = features.capture(state.model, probe[0][:1])
            convs = features.kernels(state.model)
        self.heavy_epochs.append(epoch)
        self._heavy_at, self._snap_cost = self.clock(), time.thread_time() - t
        return params, grads, fmaps, convs

    def _wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.result()

    def _heavy_due(self, state) -> bool:
        """Histograms and images at the first and the last epoch (also one that stops the run), and between them
        when the time since the last ones pays for what they cost (CPU time, the worker's included)."""
        return due_within_budget(state, self._heavy_at, self.clock(), self.budget, self._snap_cost + self._job_cost)

    def _write_epoch(self, epoch: int, params, grads, fmaps, convs, cm=None) -> None:
        t = time.thread_time()
        try:
            self._write_heavy(epoch, params, grads, fmaps, convs, cm)
        finally:
            self._job_cost = time.thread_time() - t

    def _write_heavy(self, epoch: int, params, grads, fmaps, convs, cm=None) -> None:
        """The epoch's histograms and images as one event (add_histogram_raw's and add_image's values; one event per
        value woke tensorboardX's queue feeder and writer threads ~20 times an epoch)."""
        from tensorboardX.proto.summary_pb2 import Summary  # tensorboardX: as in _writer
        images = [("confusion_matrix", insight.confusion_image(cm))] if cm is not None else []
        images += [(f"features/{n}", viz.feature_grid(fm, 64, _square(fm.shape[1]))) for n, fm in (fmaps or {}).items()]
        images += [(f"kernels/{n}", viz.kernel_grid(wt, 64, _square(len(wt)))) for n, wt in (convs or {}).items()]
        values = [histogram(f"{tag}/{n}", t) for tag, tensors in (("weights", params), ("grads", grads))
                  for n, t in (tensors or {}).items()] + [image(tag, img) for tag, img in images]
        if values := [v for v in values if v is not None]:
            self.writer.file_writer.add_summary(Summary(value=values), epoch)
        if self.worker is not None:   # not on the loop's thread: a flush is an fsync (the writer's thread flushes
            self.writer.flush()       # every flush_secs anyway, and this one does not wait for the queued images)

    def _drain(self) -> None:
        if self.worker is not None:
            try:
                self._wait()
            finally:
                self.worker.shutdown()
                self.worker = None

    def on_interrupt(self, state, exc) -> None:
        if self.writer is not None:       # a write failure now is not raised: the sinks after this one save the run
            self._hand_over(check=False)
            self._drain()
            self.writer.flush()

    def on_fit_end(self, state) -> None:
        if self.writer is None:
            return
        try:
            self._layer_scalars(state.history)
            self._hand_over(check=False)
            self._drain()
            if state.history is not None and state.history.epochs:
                self._hparams(state)
                self._labelled_confusion(state.history)
        finally:
            self.writer.close()
            self.writer = None
        fault = self._fault()            # the training is done: warned, so the checkpoint sink still writes last.pt
        if fault is not None:
            warnings.warn(f"the TensorBoard logs end early: {fault}", RuntimeWarning, stacklevel=2)

    # -- parts --------------------------------------------------------------------------------------
    def _graph(self, model, x) -> None:
        from tensorboardX.proto.event_pb2 import Event  # tensorboardX: as in _writer
        try:
            with eval_mode(model), torch.no_grad(), warnings.catch_warnings(), \
                    contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")   # tracer warnings; the tracer prints its own failure note
                graph = traced_graph(model, x[:1]).SerializeToString()
                self.writer.file_writer.add_event(Event(graph_def=graph))
        except Exception as e:  # a model that cannot be traced still trains
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            warnings.warn(f"TensorBoard: the model graph could not be traced ({first}); the other logs are written",
                          RuntimeWarning, stacklevel=2)

    def _labelled_confusion(self, h) -> None:
        """The last confusion matrix with class names and counts (matplotlib, once the run is over), when the run was
        long enough for its cost to keep within ``budget`` (0.3-0.9 s here: runs of over ~2 min by default)."""
        cms = getattr(h, "confusion", None)
        if (self.clock() - self._started) * self.budget < LABELLED_COST:
            return
        if self.confusion and cms and len(cms[-1]) <= 30:
            fig = insight.confusion_figure(cms[-1], h.class_names, title=f"confusion matrix, epoch {len(h.epochs)}")
            self.writer.add_image("confusion_matrix/labelled", insight.figure_rgb(fig), len(h.epochs),
                                  dataformats="HWC")

    def _hparams(self, state) -> None:
        from tensorboardX.summary import hparams  # tensorboardX: as in _writer
        last = dict(state.history.epochs[-1])
        last.update(state.final)
        metrics = {f"hparam/{k}": float(v) for k, v in last.items()
                   if k not in ("epoch", "step") and not k.startswith("lr") and isinstance(v, (int, float))}
        exp, ssi, sei = hparams(_hparams_of(state), metrics)
        fw = self.writer.file_writer
        for s in (exp, ssi, sei):
            fw.add_summary(s)
        write_scalars(self.writer, [(k, v, state.step) for k, v in metrics.items()])
