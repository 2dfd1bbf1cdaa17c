"""What one training step costs beyond forward, backward and step: Python calls and tensor ops per step.

Counted, not timed (so a loaded machine gives the same figures): Python function calls (``sys.setprofile`` "call"
events, C functions not counted) and ATen ops (a ``TorchDispatchMode`` that counts every op dispatched, forward and
backward) of a whole one-epoch run at S and at 2S steps; the difference over S is what one more step costs, whatever
each run's fixed costs (set-up, epoch end, validation). Rows: the plain loop (DataLoader, forward, loss, backward,
step, ``loss.item()`` every step), fit() with every sink off, fit() with its defaults (text progress in a plain
process, doctor, layer statistics, TensorBoard, checkpoints), at the default log_every and at log_every=1.
Workload: the MLP 784-256-10 of the peers' issue on synthetic data, batch 64, SGD.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/step_calls.py [--steps 64]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import DataLoader, TensorDataset

BATCH = 64


class OpCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def loaders(steps: int):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(steps * BATCH, 784, generator=g), torch.randint(0, 10, (steps * BATCH,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=BATCH), DataLoader(TensorDataset(x[:256], y[:256]), batch_size=256)


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def plain(steps: int, **_) -> None:
    train, val = loaders(steps)
    model = net()
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=0.05), nn.CrossEntropyLoss()
    model.train()
    for x, y in train:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    model.eval()
    with torch.no_grad():
        for x, y in val:
            loss_fn(model(x), y).item()


def with_fit(steps: int, defaults: bool, log_every=None, tmp: str = "") -> None:
    import nbtrain
    train, val = loaders(steps)
    model = net()
    kw = dict(logdir=f"{tmp}/runs", checkpoint_dir=f"{tmp}/checkpoints", overwrite=True, dashboard=True) if defaults else \
        dict(dashboard=False, progress=False, doctor=False, logdir="", checkpoint_dir="")
    if log_every:
        kw["log_every"] = log_every
    nbtrain.fit(model=model, train=train, val=val, optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                epochs=1, run_name=f"steps{steps}", **kw)


def counted(fn, steps: int, **kw) -> tuple[int, int]:
    calls = [0]

    def prof(frame, event, arg):
        if event == "call":
            calls[0] += 1
    ops = OpCount()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), ops:
        sys.setprofile(prof)
        try:
            fn(steps, **kw)
        finally:
            sys.setprofile(None)
    return calls[0], ops.n


def per_step(fn, steps: int, **kw) -> tuple[float, float]:
    fn(steps, **kw)                                    # warm-up: imports, first-call caches
    (c1, o1), (c2, o2) = counted(fn, steps, **kw), counted(fn, 2 * steps, **kw)
    return (c2 - c1) / steps, (o2 - o1) / steps


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("plain loop", plain, {}), ("fit, every sink off", with_fit, {"defaults": False}),
                ("fit, defaults", with_fit, {"defaults": True, "tmp": tmp}),
                ("fit, every sink off, log_every=1", with_fit, {"defaults": False, "log_every": 1}),
                ("fit, defaults, log_every=1", with_fit, {"defaults": True, "tmp": tmp, "log_every": 1})]
        for name, fn, kw in rows:
            out[name] = per_step(fn, args.steps, **kw)
    base_calls, base_ops = out["plain loop"]
    print(f"per step, from runs of {args.steps} and {2 * args.steps} steps (MLP 784-256-10, batch {BATCH})")
    print(f"{'':>34} {'Python calls':>13} {'beyond plain':>13} {'ATen ops':>9} {'beyond plain':>13}")
    for name, (calls, ops) in out.items():
        print(f"{name:>34} {calls:13.1f} {calls - base_calls:13.1f} {ops:9.1f} {ops - base_ops:13.1f}")
    return out


if __name__ == "__main__":
    main()
