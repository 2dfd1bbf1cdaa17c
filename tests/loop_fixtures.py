"""Tiny models and loaders shared by the loop, sink and checkpoint tests (seconds on one CPU thread)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nbtrain.train.callbacks import Callback


def tiny_data(n=96, classes=3, seed=0, batch=16, shuffle=True, img=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 6, 6, generator=g) if img else torch.randn(n, 8, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    cut = n * 3 // 4
    tr = DataLoader(TensorDataset(x[:cut], y[:cut]), batch_size=batch, shuffle=shuffle,
                    generator=torch.Generator().manual_seed(seed + 1))
    va = DataLoader(TensorDataset(x[cut:], y[cut:]), batch_size=batch)
    return tr, va


def tiny_cnn(classes=3, dropout=0.2, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(4 * 36, classes))


class ModeRecorder(nn.Module):
    """Records (training, grad enabled) at every forward; passes x through."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return x


class Events:
    """A callback that records the event names (and the batch for batch events)."""

    def __init__(self):
        self.seen = []

    def __getattr__(self, name):
        if name.startswith("on_"):
            return lambda state, *a: self.seen.append(name[3:])
        raise AttributeError(name)


class InterruptAt(Callback):
    """Raises KeyboardInterrupt (the kernel's stop button) in ``event`` once ``state.step`` is ``step``."""

    def __init__(self, step: int, event: str = "on_batch_end"):
        self.step = step
        setattr(self, event, self._check)

    def _check(self, state, *a):
        if state.step == self.step:
            raise KeyboardInterrupt
