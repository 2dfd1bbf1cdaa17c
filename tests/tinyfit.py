"""fit() itself on a tiny CNN and tiny tensors, for the tests of sinks: the real Trainer fires the events, in its
order, with its State, History and epoch numbers (from 1); a few milliseconds a step."""
from __future__ import annotations

import torch
from torch import nn

from nbtrain.spec import DataSpec
from nbtrain.train.callbacks import Callback


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
    """A list of (x, y) batches in order, with DataLoader's batch_size and dataset attributes."""

    def __init__(self, x, y, batch_size, dataset=None):
        super().__init__((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))
        self.batch_size = batch_size
        self.dataset = dataset if dataset is not None else torch.utils.data.TensorDataset(x, y)


class _Hook(Callback):
    """Keeps the run's State; calls ``step_hook(state)`` after each training step, ahead of the callbacks after it."""

    def __init__(self, step_hook=None):
        self.step_hook, self.state = step_hook, None

    def on_fit_start(self, state):
        self.state = state

    def on_batch_end(self, state, logs):
        if self.step_hook is not None:
            self.step_hook(state)


def tiny_spec(spec, batch_size: int):
    """``spec`` on 48 synthetic 1x8x8 images of 3 classes (its transforms and loop kept), for a run that needs one."""
    spec = type(spec).from_dict(spec.to_dict())
    spec.data = DataSpec(dataset="synthetic", image_shape=[1, 8, 8], size=48, num_classes=3, batch_size=batch_size,
                         train_transforms=spec.data.train_transforms, val_transforms=spec.data.val_transforms,
                         random_val=spec.data.random_val)
    spec.loop.logdir, spec.loop.checkpoint_dir = "", ""
    return spec


def mini_fit(model=None, callbacks=(), epochs=2, batch_size=8, lr=0.05, log_every=2, x=None, y=None,
             optimizer=None, scheduler=None, loss_fn=None, val=None, spec=None, step_hook=None, **loop):
    """``fit()`` with ``callbacks`` on ``model`` (a tiny CNN) and blobs (``x``, ``y``) in batches of ``batch_size``
    in order, validated on the first 16 samples (or ``val``; False: none), SGD at ``lr``; no sink but the NaN guard and the
    given ones. With ``spec``, its data becomes 48 synthetic 8x8 images (``tiny_spec``). Returns the run's State."""
    from nbtrain.train.loop import fit
    model = model if model is not None else tiny_cnn()
    hook = _Hook(step_hook)
    kw = dict(model=model, optimizer=optimizer or torch.optim.SGD(model.parameters(), lr=lr),
              scheduler=scheduler, loss=loss_fn or nn.CrossEntropyLoss(), epochs=epochs, log_every=log_every,
              callbacks=[hook, *callbacks], dashboard=False, progress=False, doctor=False, **loop)
    if spec is not None:
        fit(tiny_spec(spec, batch_size), **kw)
        return hook.state
    if x is None:
        x, y = blobs()
    if val is None:
        val = Loader(x[:16], y[:16], batch_size)
    fit(train=Loader(x, y, batch_size), val=val or None, **kw)
    return hook.state
