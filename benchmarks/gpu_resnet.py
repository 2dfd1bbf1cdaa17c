"""A small ResNet on CIFAR-shaped synthetic data that lives on the device: a plain PyTorch loop vs fit() with every
sink off vs fit() with its defaults, in one process, alternating, with bf16 autocast and channels_last as options.

Data: N random 3x32x32 images and labels made on the device (no loader, no host copies): both loops slice the same
shuffled batches. Model: a ResNet of three stages (widths w, 2w, 4w; one basic block each) and a linear head.
Each round runs the plain loop, fit(sinks off: no dashboard, progress, doctor, logdir, checkpoints) and fit(defaults:
TensorBoard, checkpoints, run record, doctor, layer statistics, text progress) for the same epochs; an epoch's time is
its wall time with the device synchronized at both ends (epoch 1 is a warm-up and is not counted). Printed: the
median samples/s of each and the ratios to the plain loop (1.0: no overhead).

On a GPU (quiet, as lent): PYTHONPATH=$PWD .venv/bin/python benchmarks/gpu_resnet.py --device cuda [--bf16]
    [--channels-last] [--samples 50000] [--batch 256] [--epochs 3] [--rounds 5]
As CI's smoke test on CPU (seconds): tests/test_bench_gpu_resnet.py runs main(TINY).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

TINY = ["--device", "cpu", "--samples", "64", "--batch", "16", "--width", "4", "--epochs", "2", "--rounds", "1"]


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.skip(x))


def resnet(width: int = 32, classes: int = 10) -> nn.Module:
    w = width
    return nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
                         Block(w, w, 1), Block(w, 2 * w, 2), Block(2 * w, 4 * w, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, classes))


class Batches:
    """The device-resident data as an iterable of shuffled (x, y) batches (a loader for fit() and the plain loop)."""

    def __init__(self, x, y, batch: int, seed: int = 0):
        self.x, self.y, self.batch, self.g = x, y, batch, torch.Generator(device="cpu").manual_seed(seed)
        self.batch_size = batch

    def __len__(self):
        return len(self.x) // self.batch

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=self.g).to(self.x.device)
        for i in range(len(self)):
            idx = order[i * self.batch:(i + 1) * self.batch]
            yield self.x[idx], self.y[idx]


def setup(args, seed: int = 0):
    dev = torch.device(args.device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(args.samples, 3, 32, 32, generator=g).to(dev)
    y = torch.randint(0, 10, (args.samples,), generator=g).to(dev)
    torch.manual_seed(seed)
    net = resnet(args.width).to(dev)
    if args.channels_last:
        x, net = x.contiguous(memory_format=torch.channels_last), net.to(memory_format=torch.channels_last)
    return net, Batches(x, y, args.batch), dev


def sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def plain(args) -> list:
    """Seconds per epoch of the plain loop: forward (autocast when asked), loss, backward, step."""
    net, data, dev = setup(args)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    times = []
    for _ in range(args.epochs):
        sync(dev)
        t = time.perf_counter()
        net.train()
        for x, y in data:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16):
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(dev)
        times.append(time.perf_counter() - t)
    return times


def with_fit(args, defaults: bool, tmp: str, name: str) -> list:
    """Seconds per epoch of fit() on the same model, data and optimizer (sinks off, or the defaults)."""
    import nbtrain
    net, data, dev = setup(args)
    times, marks = [], {}

    class Clock(nbtrain.Callback):
        def on_epoch_start(self, state):
            sync(dev)
            marks["t"] = time.perf_counter()

        def on_epoch_end(self, state, logs):
            sync(dev)
            times.append(time.perf_counter() - marks["t"])
    kw = dict(dashboard=True, logdir=tmp, checkpoint_dir=tmp, run_name=name) if defaults else \
        dict(dashboard=False, progress=False, doctor=False, logdir="", checkpoint_dir="")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        nbtrain.fit(model=net, train=data, optimizer=torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9),
                    loss=nn.CrossEntropyLoss(), epochs=args.epochs, device=str(dev), amp="bf16" if args.bf16 else "off",
                    callbacks=[Clock()], **kw)
    return times


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast in both loops (fit: amp='bf16')")
    ap.add_argument("--channels-last", action="store_true", help="model and data in channels_last memory format")
    args = ap.parse_args(argv)
    rates = {"plain": [], "fit, sinks off": [], "fit, defaults": []}
    n = len(Batches(torch.empty(args.samples), None, args.batch)) * args.batch
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, times in (("plain", plain(args)), ("fit, sinks off", with_fit(args, False, tmp, f"off{r}")),
                                ("fit, defaults", with_fit(args, True, tmp, f"on{r}"))):
                counted = times[1:] or times
                rates[name].append(n / statistics.median(counted))
    out = {k: statistics.median(v) for k, v in rates.items()}
    print(f"device {args.device}, {args.samples} samples 3x32x32, batch {args.batch}, width {args.width}, bf16 "
          f"{args.bf16}, channels_last {args.channels_last}, {args.epochs} epochs x {args.rounds} rounds")
    for k, v in out.items():
        print(f"{k:>15}: {v:10.0f} samples/s   ratio to plain {v / out['plain']:.3f}")
    return out


if __name__ == "__main__":
    main()
