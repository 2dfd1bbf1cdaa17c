"""A hand-written loop that fires the Callback events in the loop's documented order (tests of sinks only)."""
from __future__ import annotations

import torch
from torch import nn

from nbtrain.train.callbacks import CallbackList, State
from nbtrain.train.history import History


def tiny_cnn(softmax: bool = False, bn: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 4, 3, padding=1)] + ([nn.BatchNorm2d(4)] if bn else []) + [
        nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3)]
    return nn.Sequential(*layers, *([nn.Softmax(dim=1)] if softmax else []))


def blobs(n: int = 48, scale: float = 1.0, shift: float = 0.0, seed: int = 0):
    """Three classes of 1x8x8 images, roughly standardized (times scale, plus shift)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5
    x[:, :, :4][y == 0] += 1.0
    x[:, :, 4:][y == 1] += 1.0
    x[:, :, :, :4][y == 2] += 1.0
    return (x - x.mean()) / x.std() * scale + shift, y


class Loader(list):
    """A list of (x, y) batches with DataLoader's batch_size and dataset attributes."""

    def __init__(self, x, y, batch_size, dataset=None):
        super().__init__((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))
        self.batch_size = batch_size
        self.dataset = dataset if dataset is not None else torch.utils.data.TensorDataset(x, y)


def mini_fit(model=None, callbacks=(), epochs=2, batch_size=8, lr=0.05, log_every=2, x=None, y=None,
             optimizer=None, scheduler=None, loss_fn=None, val=None, spec=None, step_hook=None):
    model = model if model is not None else tiny_cnn()
    if x is None:
        x, y = blobs()
    train = Loader(x, y, batch_size)
    val = val if val is not None else Loader(x[:16], y[:16], batch_size)
    opt = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    state = State(model=model, optimizer=opt, scheduler=scheduler, loss_fn=loss_fn, train_loader=train,
                  val_loader=val, spec=spec, epochs=epochs, steps_per_epoch=len(train), history=History())
    cbs = CallbackList([state.history, *callbacks])          # the run record first, as fit() puts it
    state.history.notes_shown = any(getattr(c, "shows_notes", False) for c in callbacks)     # as fit() asks
    cbs.on_fit_start(state)
    try:
        for epoch in range(epochs):
            state.epoch = epoch
            model.train()
            cbs.on_epoch_start(state)
            total = 0.0
            for i, (xb, yb) in enumerate(train):
                state.batch = i
                cbs.on_batch_start(state)
                loss = loss_fn(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if scheduler is not None:
                    scheduler.step()
                state.step += 1
                total += loss.item()
                lrs = {("lr" if g == 0 else f"lr_{g}"): pg["lr"] for g, pg in enumerate(opt.param_groups)}
                logs = {"loss": loss.item(), "step": state.step, **lrs} if state.step % log_every == 0 else {}
                if step_hook:
                    step_hook(state)
                cbs.on_batch_end(state, logs)
                if logs:
                    cbs.on_log(state, logs)
                if state.should_stop:
                    break
            model.eval()
            with torch.no_grad():
                vl = sum(loss_fn(model(xb), yb).item() for xb, yb in val) / len(val)
                va = sum((model(xb).argmax(1) == yb).float().mean().item() for xb, yb in val) / len(val)
            vlogs = {"val_loss": vl, "val_accuracy": va}
            cbs.on_validation_end(state, vlogs)
            elogs = {"loss": total / (i + 1), **vlogs, "epoch": epoch + 1, "step": state.step}   # 1-based, as fit
            cbs.on_epoch_end(state, elogs)
            if state.should_stop:
                break
    except BaseException as e:
        cbs.on_interrupt(state, e)
        raise
    finally:
        cbs.on_fit_end(state)
    return state
