"""Per-layer statistics: how each layer's gradients, updates and activations behave (the doctor reads them).

A *layer* here is a module with trainable parameters of its own (``Conv2d``, ``Linear``, a norm layer...), named
``"<module name> <Type>"``. At each log point (``every`` steps, the loop's ``log_every``) LayerStats computes on the
device, for every layer:

- ``grad``:   the gradient norm, ``sqrt(sum of p.grad**2)`` over the layer's parameters (after clipping and the AMP
              unscale: the gradient the optimizer used);
- ``update``: the update/weight ratio ``||w_t - w_prev|| / ||w_t||``, ``w_prev`` copied on the device at the start
              of the log point's step (one copy every ``every`` steps, in place into buffers kept for the run);

and reads them back in one host sync per log point (nothing per step). At each epoch end it runs the probe batch
(``state.probe``, else the first 8 validation samples) once through the model in eval mode under
``torch.no_grad()`` (every module's mode restored), with forward hooks on the activation layers (the catalog's
``act`` tag, probability layers aside), and records each one's output mean, std and *dead fraction*: the fraction
of its units that are exactly 0 for every sample of the probe batch, a unit being a channel (dimension 1: a
channel of a conv map counts as dead only if it is 0 at every position) or a feature of a flat output. Again one
host sync. The hooks exist only for that forward pass. On epochs shorter than ~1 s the pass runs at the first and
the last epoch and as often as ``budget`` (0.5% of the time) allows between them.

The numbers go to the run record (``state.history``: ``layer_names``, ``act_names``, ``layer_rows``, ``act_rows``),
where the doctor, the dashboard and TensorBoard read them; ``rows`` and ``acts`` here are the record's lists.
``rows``: ``[{"step", "grad": [per layer], "update": [per layer]}]`` (None where a layer has no gradient or a
value is not finite); ``acts``: ``[{"epoch", "step", "mean", "std", "dead"}]`` with one value per ``act_names``.
"""
from __future__ import annotations

import math
import time

import torch

from ..env import one_cpu_thread
from ..spec.catalog import LAYERS, tags_of
from ..train.callbacks import Callback, due_within_budget
from ..train.features import probe_forward
from ..train.history import History, record_of
from ..train.steps import autocast


def _finite(values: list) -> list:
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _norms(tensors: list) -> torch.Tensor:
    """The 2-norm of each tensor, stacked (torch's fused multi-tensor kernel)."""
    return torch.stack([n.float() for n in torch._foreach_norm(tensors)])


def _act_layers(model) -> list:
    """(name, module) of the activation layers: the catalog's ``act`` tag, Softmax-like ``prob`` layers aside."""
    out = []
    for name, m in model.named_modules():
        tags = tags_of(LAYERS, m)
        if name and "act" in tags and "prob" not in tags:
            out.append((name, m))
    return out


def unit_stats(out: torch.Tensor) -> torch.Tensor:
    """``[mean, std, dead fraction]`` of one activation output (N, C, ...) or (N, F), on its device."""
    x = out.detach().float()
    live = (x != 0).reshape(x.shape[0], x.shape[1], -1).any(dim=2).any(dim=0) if x.dim() >= 2 else (x != 0)
    if x.numel() > 1:
        std, mean = torch.std_mean(x)
    else:
        std, mean = torch.zeros((), device=x.device), x.mean()
    return torch.stack([mean, std, 1.0 - live.float().mean()])


def small_ops(device):
    """One intra-op thread on a CPU for these tiny tensors (nbtrain.env.one_cpu_thread)."""
    return one_cpu_thread(getattr(device, "type", "cpu") == "cpu")


def first_samples(loader, n: int = 8):
    """The first ``n`` validation inputs, read from the loader's tensors or dataset: no iterator is made, so no
    generator (the loader's, or one it shares with the training loader) draws a number. None when unreadable."""
    try:
        x = getattr(loader, "x", None)                       # nbtrain's in-memory loader: its cached tensors
        if isinstance(x, torch.Tensor):
            return x[:n]
        ds = getattr(loader, "dataset", None)
        if ds is None or not len(ds):
            return None
        return torch.stack([torch.as_tensor(ds[i][0]) for i in range(min(n, len(ds)))])
    except Exception:  # a dataset we cannot index: no activation statistics
        return None


class LayerStats(Callback):
    """Gradient norm and update/weight ratio per layer at log points, activation statistics at epoch ends.

    every:      steps between log points (default: the run's ``log_every``; 20 without a LoopSpec).
    max_layers: at most this many layers (the first ones) and this many activation layers are watched.
    budget:     the probe pass (activations) runs at the first and the last epoch, and at an epoch end between them
                when its cost (wall time, measured) is at most this fraction of the time since the last one (0.5%,
                TensorBoard's images' budget): every epoch once epochs take over ~1 s on a small CNN, every second or
                third one on shorter epochs. ``budget=1``: every epoch.
    """

    needs_probe = True            # fit() gives it a fixed input batch (state.probe) for the activations

    def __init__(self, every: int | None = None, max_layers: int = 64, budget: float = 0.005,
                 clock=time.perf_counter):
        self.every, self.max_layers, self.budget, self.clock = every, max_layers, budget, clock
        self._probed_at = None                # when the last probe pass ended (clock), None before the first
        self.record = History()              # the run's record (state.history) once the run starts
        self.costs: dict = {"copy": [], "log": [], "epoch": []}   # seconds of each part's work (benchmarks read it)
        self._params, self._owner, self._owners, self._prev, self._acts = [], None, [], None, []
        self.error = None                    # what stopped the statistics (training goes on without them)
        self._every = 20
        self._probe = None

    # the record's lists, by the names this sink has always had: layers with parameters ("<module name> <Type>"),
    # activation layers, the rows of each log point and of each probe pass
    names = property(lambda self: self.record.layer_names)
    act_names = property(lambda self: self.record.act_names)
    rows = property(lambda self: self.record.layer_rows)
    acts = property(lambda self: self.record.act_rows)

    # -- events -----------------------------------------------------------------------------------
    def on_fit_start(self, state) -> None:
        model = state.model
        self.record = record_of(state)
        self.record.layer_rows, self.record.act_rows, self._prev = [], [], None
        self.costs = {"copy": [], "log": [], "epoch": []}
        self._probed_at = None
        if model is None:
            return
        loop = state.loop_spec
        self._every = self.every or (getattr(loop, "log_every", 0) or 20)
        layers = []
        for name, m in model.named_modules():
            own = [p for p in m.parameters(recurse=False) if p.requires_grad]
            if own:
                layers.append((f"{name or 'model'} {type(m).__name__}", own))
        layers = layers[:self.max_layers]
        self.record.layer_names = [n for n, _ in layers]
        self._params = [p for _, ps in layers for p in ps]
        self._owners = [i for i, (_, ps) in enumerate(layers) for _ in ps]      # each parameter's layer
        device = self._params[0].device if self._params else None
        self._owner = torch.tensor(self._owners, dtype=torch.long, device=device) if self._owners else None
        self._acts = _act_layers(model)[:self.max_layers]
        self.record.act_names = [f"{n} {type(m).__name__}" for n, m in self._acts]
        probe = state.probe
        if probe is None and self._acts:
            probe = first_samples(state.val_loader)
        self._probe = probe[0] if isinstance(probe, (tuple, list)) else probe

    def on_batch_start(self, state) -> None:
        if self._params and (state.step + 1) % self._every == 0:      # this step ends at a log point
            t = time.perf_counter()
            params = [p.detach() for p in self._params]
            with small_ops(params[0].device):
                if self._prev is None or self._prev[0].device != params[0].device:
                    self._prev = [p.clone() for p in params]
                else:
                    torch._foreach_copy_(self._prev, params)
            self._prev_step = state.step
            self.costs["copy"].append(time.perf_counter() - t)

    def on_batch_end(self, state, logs) -> None:
        if not logs or not self._params:
            return
        t = time.perf_counter()
        try:
            with small_ops(self._params[0].device):
                row = self.layer_norms(self._prev if self._fresh(state) else None)
            self.record.record_layers(row={"step": state.step, **row})
        except Exception as e:  # e.g. a model split over devices: no statistics, training goes on
            self.error, self._params, self._prev = e, [], None
        self.costs["log"].append(time.perf_counter() - t)

    def _probe_due(self, state) -> bool:
        cost = self.costs["epoch"][-1] if self.costs["epoch"] else 0.0     # the last probe pass's
        return due_within_budget(state, self._probed_at, self.clock(), self.budget, cost)

    def on_epoch_end(self, state, logs) -> None:
        x = self._probe
        if self._acts and isinstance(x, torch.Tensor) and state.model is not None and self._probe_due(state):
            t = self.clock()
            try:
                device = getattr(next(state.model.parameters(), None), "device", None)
                amp = getattr(state.loop_spec, "amp", "off") or "off"
                with small_ops(device), autocast(amp, getattr(device, "type", "cpu")):   # as the model trains
                    row = self.activations(state.model, x)
                self.record.record_layers(acts={"epoch": state.epoch + 1, "step": state.step, **row})
            except Exception as e:  # a probe the model does not take: no activations, training goes on
                self.error, self._acts = e, []
            self._probed_at = self.clock()
            self.costs["epoch"].append(self._probed_at - t)

    def on_fit_end(self, state) -> None:
        self._prev = self._probe = None       # the buffers go with the run

    # -- the numbers ------------------------------------------------------------------------------
    def _fresh(self, state) -> bool:
        return self._prev is not None and getattr(self, "_prev_step", -1) == state.step - 1

    def layer_norms(self, prev=None) -> dict:
        """``{"grad": [...], "update": [...]}`` per layer now (update only with ``prev``, the weights before this step,
        else None each); ``prev`` is used up (it holds ``w_prev - w`` afterwards)."""
        n, k = len(self.names), len(self._params)
        with torch.no_grad():
            params = [p.detach() for p in self._params]
            has = [p.grad is not None for p in self._params]
            grads = [p.grad.detach() if p.grad is not None else torch.zeros((), device=p.device) for p in self._params]
            tensors = grads
            if prev is not None:              # prev becomes w_prev - w_t in place: the buffers are refilled before
                torch._foreach_sub_(prev, params)     # the next log point's step, so no new tensors are allocated
                tensors = grads + prev + params
            parts = len(tensors) // k                                   # one fused norm for every tensor
            sq = torch.zeros(parts, n, device=params[0].device)
            sq.index_add_(1, self._owner, (_norms(tensors) ** 2).view(parts, k))
            values = sq.sqrt().tolist()                                 # the one host sync
        with_grad = [False] * n
        for i, h in zip(self._owners, has):
            with_grad[i] = with_grad[i] or h
        grad = _finite([g if ok else None for g, ok in zip(values[0], with_grad)])
        if prev is None:
            return {"grad": grad, "update": [None] * n}
        update = _finite([d / w if w > 0 else None for d, w in zip(values[1], values[2])])
        return {"grad": grad, "update": update}

    def activations(self, model, x) -> dict:
        """``{"mean", "std", "dead"}`` per activation layer for the probe batch ``x`` (eval mode, no_grad)."""
        got: dict = {}

        def saver(i):
            def hook(module, inputs, output):
                if isinstance(output, torch.Tensor) and output.dim() >= 1 and output.shape[0] > 0:
                    got[i] = unit_stats(output)
            return hook
        probe_forward(model, x, {m: saver(i) for i, (_, m) in enumerate(self._acts)})
        out = {"mean": [None] * len(self._acts), "std": [None] * len(self._acts), "dead": [None] * len(self._acts)}
        if got:
            keys = sorted(got)
            values = torch.stack([got[i] for i in keys]).tolist()       # the one host sync
            for i, (mean, std, dead) in zip(keys, values):
                out["mean"][i], out["std"][i], out["dead"][i] = _finite([mean, std, dead])
        return out
