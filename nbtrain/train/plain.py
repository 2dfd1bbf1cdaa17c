"""The training loop in plain PyTorch: fit()'s step functions, and the loop of an exported script.

``autocast``, ``make_train_step``, ``make_eval_step`` and ``evaluate`` are the ones fit() runs (nbtrain.train.steps
adds the package's checks around them); ``Totals``, ``EarlyStop``, ``train_epoch``, ``finish_swa`` and ``train``
are the loop a script from ``to_code`` runs, tested against fit(). ``to_code`` emits this module's source verbatim
(``inspect.getsource``), so a script trains with the code fit() trains with. So this module imports only torch and
the standard library, and raises no nbtrain error.
"""
import math

import torch
from torch.optim.swa_utils import update_bn


def autocast(amp, device_type):
    """The autocast context for ``amp`` ('off', 'bf16', 'fp16'); 'off' is torch's autocast with enabled=False."""
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype, enabled=amp != "off")


def make_train_step(model, loss_fn, optimizer, amp="off", scaler=None, grad_clip=0.0, device_type="cpu"):
    """``step(x, y, forward=None) -> (loss, output)``, both detached: zero_grad, forward under autocast, backward,
    gradient clipping, step (through ``scaler``, a GradScaler, with fp16; a disabled one passes through).

    ``forward(model, loss_fn, x, y) -> (output, loss)``, when given, replaces ``model(x)`` and ``loss_fn`` for this
    step (fit() watches the first batch's forward so). LBFGS (torch.optim.LBFGS) re-evaluates the loss: its step
    gets a closure (zero_grad, forward, backward, clipping) and returns the closure's first evaluation."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if scaler is None:
        scaler = torch.amp.GradScaler(device_type, enabled=False)

    def forward_pass(x, y, forward):
        with autocast(amp, device_type):
            if forward is not None:
                return forward(model, loss_fn, x, y)
            out = model(x)
            return out, loss_fn(out, y)

    def clip():
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, grad_clip)

    def step(x, y, forward=None):
        optimizer.zero_grad(set_to_none=True)
        out, loss = forward_pass(x, y, forward)
        scaler.scale(loss).backward()
        clip()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach(), out.detach()

    def closure_step(x, y, forward=None):
        seen = []

        def closure():
            optimizer.zero_grad(set_to_none=True)
            out, loss = forward_pass(x, y, None if seen else forward)
            loss.backward()
            clip()
            if not seen:
                seen.append((loss.detach(), out.detach()))
            return loss
        optimizer.step(closure)
        return seen[0]
    return closure_step if isinstance(optimizer, torch.optim.LBFGS) else step


def make_eval_step(model, loss_fn, amp="off", device_type="cpu"):
    """``step(x, y) -> (loss, output)`` without gradients; the caller puts the model in eval mode."""
    @torch.no_grad()
    def step(x, y):
        with autocast(amp, device_type):
            out = model(x)
            return loss_fn(out, y).detach(), out.detach()
    return step


def to_device(t, device):
    """A tensor on ``device`` (copied without waiting where it can be); anything else as it is."""
    return t.to(device, non_blocking=True) if isinstance(t, torch.Tensor) else t


def evaluate(model, loader, eval_step, update, device):
    """Every batch of ``loader`` through ``eval_step`` in eval mode under no_grad, ``update(loss, out, y)`` for
    each; afterwards every module's train/eval mode is put back as it was (a layer frozen alone stays frozen)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            for x, y in loader:
                x, y = to_device(x, device), to_device(y, device)
                loss, out = eval_step(x, y)
                update(loss, out, y)
    finally:
        for m, training in modes:
            m.training = training


def metric_sums(metrics):
    """``batch_metrics(out, y) -> {name: the metric summed over the batch}`` from (name, function, keyword
    arguments) triples, e.g. ``[("accuracy", accuracy_sum, {})]``."""
    def batch_metrics(out, y):
        return {name: fn(out, y, **kw) for name, fn, kw in metrics}
    return batch_metrics


class Totals:
    """The loss and the metrics summed over the samples seen, kept on the device (read at log points only)."""

    def __init__(self, batch_metrics, device):
        self.batch_metrics, self.device = batch_metrics, device
        self.dtype = torch.float32 if device.type == "mps" else torch.float64   # mps has no float64
        self.sums, self.n, self.window = {}, 0, ({}, 0)

    def update(self, loss, out, y):
        n = out.shape[0]
        sums = {"loss": loss.detach().to(self.dtype) * n, **self.batch_metrics(out.detach(), y)}
        for k, v in sums.items():
            self.sums[k] = self.sums.get(k, 0) + v.to(self.dtype)
        self.n += n

    def means(self, prefix=""):
        """Per-sample means since the start, ``{prefix + name: value}``."""
        return {prefix + k: float(v) / self.n for k, v in self.sums.items()} if self.n else {}

    def window_loss(self):
        """The mean loss since the previous call (the log window)."""
        (before, n) = self.window
        loss = float(self.sums["loss"])
        self.window = ({"loss": loss}, self.n)
        return (loss - before.get("loss", 0.0)) / max(1, self.n - n)


def improved(value, best, mode, min_delta=0.0):
    """Whether ``value`` beats ``best`` by more than ``min_delta`` ('min': lower is better, 'max': higher); a NaN
    never improves, and any number improves on no best (None or NaN)."""
    if best is None or (isinstance(best, float) and math.isnan(best)):
        return not math.isnan(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStop:
    """Stop when ``monitor`` has not improved for ``patience`` epochs; the best weights are kept to restore.
    ``mode`` is 'min' or 'max' (fit's EarlyStopping and ``to_code`` resolve 'auto' from the metric catalog)."""

    def __init__(self, monitor, mode="min", patience=3, min_delta=0.0, restore_best=True):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStop mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best, self.best_epoch, self.wait, self.best_weights = None, 0, 0, None

    def should_stop(self, logs, model, epoch):
        """After epoch ``epoch``'s logs (counted from 1): True when patience ran out."""
        value = logs.get(self.monitor)
        if value is None:
            return False
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:     # kept on the CPU: no second model on the accelerator
                self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def reason(self):
        return (f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {self.best:.4g} at epoch {self.best_epoch})")


def group_lrs(optimizer):
    """Every param group's LR: ``lr`` for the first, ``lr_1``, ``lr_2``... for the others."""
    return {("lr" if i == 0 else f"lr_{i}"): g["lr"] for i, g in enumerate(optimizer.param_groups)}


def train_epoch(model, loader, step, totals, stepper, device, steps, log_every=50, writer=None):
    """One pass over ``loader``: a train step per batch (the model in train mode), the schedule stepped after each,
    the window's mean loss and the LRs written to ``writer`` every ``log_every`` steps. Returns the step count."""
    model.train()
    for x, y in loader:
        x, y = to_device(x, device), to_device(y, device)
        loss, out = step(x, y)
        totals.update(loss, out, y)
        stepper.after_step()
        steps += 1
        if writer is not None and steps % log_every == 0:
            writer.add_scalar("train/loss", totals.window_loss(), steps)
            for i, g in enumerate(stepper.optimizer.param_groups):
                writer.add_scalar(f"lr/group_{i}", g["lr"], steps)
    return steps


def validate(model, loader, eval_step, batch_metrics, device, prefix="val_"):
    """Mean loss and metrics over ``loader`` (``evaluate``), keys prefixed."""
    totals = Totals(batch_metrics, device)
    evaluate(model, loader, eval_step, totals.update, device)
    return totals.means(prefix)


def report(logs, epoch, epochs, model, writer=None, histograms=False):
    """Print the epoch's logs; write them, and the weights' histograms when asked, to ``writer``."""
    print(f"epoch {epoch}/{epochs}: " + ", ".join(f"{k} {v:.8g}" for k, v in logs.items()), flush=True)
    if writer is None:
        return
    for k, v in logs.items():
        writer.add_scalar(f"epoch/{k}", v, epoch)
    if histograms:
        for name, p in model.named_parameters():
            writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), epoch)


def finish_swa(model, swa_model, train_loader, val_loader, eval_step, batch_metrics, device):
    """SWA's end: BatchNorm statistics recomputed for the averaged weights, which the model takes, validated once
    more. Returns ``{"swa_epochs": ..., "swa_val_loss": ...}``."""
    update_bn(((to_device(x, device), y) for x, y in train_loader), swa_model, device=device)
    model.load_state_dict(swa_model.module.state_dict())
    final = {"swa_epochs": int(swa_model.n_averaged)}
    if val_loader is not None:
        final.update(validate(model, val_loader, eval_step, batch_metrics, device, prefix="swa_val_"))
    return final


def train(model, train_loader, val_loader, optimizer, loss_fn, stepper, device, epochs, batch_metrics, amp="off",
          grad_clip=0.0, log_every=50, writer=None, histograms=False, early_stop=None, swa_model=None):
    """The run: each epoch trained, validated and reported, then the schedule's epoch step (``stepper``, a
    nbtrain Stepper), SWA's averaging and early stopping (``early_stop``, an EarlyStop or None); at the end
    SWA's finish unless stopped early. Returns each epoch's logs and SWA's final logs ({} without)."""
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16")
    step = make_train_step(model, loss_fn, optimizer, amp, scaler, grad_clip, device.type)
    eval_step = make_eval_step(model, loss_fn, amp, device.type)
    history, steps = [], 0
    for epoch in range(epochs):
        totals = Totals(batch_metrics, device)
        steps = train_epoch(model, train_loader, step, totals, stepper, device, steps, log_every, writer)
        logs = {**totals.means(), **group_lrs(optimizer)}
        if val_loader is not None:
            logs.update(validate(model, val_loader, eval_step, batch_metrics, device))
        stepper.after_epoch(logs)
        if swa_model is not None and stepper.swa_active(epoch):
            swa_model.update_parameters(model)
        report(logs, epoch + 1, epochs, model, writer, histograms)
        history.append(logs)
        if early_stop is not None and early_stop.should_stop(logs, model, epoch + 1):
            print(early_stop.reason(), flush=True)
            if early_stop.restore_best and early_stop.best_weights is not None:
                model.load_state_dict(early_stop.best_weights)
            return history, {}
    final = {}
    if swa_model is not None and int(swa_model.n_averaged) > 0:
        final = finish_swa(model, swa_model, train_loader, val_loader, eval_step, batch_metrics, device)
        print("swa: " + ", ".join(f"{k} {v:.8g}" for k, v in final.items()), flush=True)
    return history, final
