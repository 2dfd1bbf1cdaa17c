"""fit() with its TensorBoard, checkpoint and progress sinks vs the seeds' plain PyTorch loop.

Same model (TrainSpec.default(): the small CNN), same loader (build_data on the offline digits, or
synthetic 1x28x28 tensors with --synthetic), same optimizer settings, measured in one run, alternating
the two loops. Prints seconds per epoch and the ratio plain / fit (1.0 = no overhead; target >= 0.97).

    .venv/bin/python benchmarks/loop_overhead.py [--epochs 3] [--repeats 3] [--threads 2] [--synthetic]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nbtrain import fit  # noqa: E402
from nbtrain.callbacks import Callback  # noqa: E402
from nbtrain.model import build_model  # noqa: E402
from nbtrain.spec import TrainSpec  # noqa: E402


def loaders(spec, synthetic: bool):
    if not synthetic:
        try:
            from nbtrain.data import build_data
            b = build_data(spec.data)
            return b.train, b.val, "digits via build_data"
        except ImportError:
            pass
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1797, 1, 28, 28, generator=g), torch.randint(0, 10, (1797,), generator=g)
    ds = torch.utils.data.TensorDataset
    tr = torch.utils.data.DataLoader(ds(x[:1437], y[:1437]), batch_size=64, shuffle=True, generator=g)
    va = torch.utils.data.DataLoader(ds(x[1437:], y[1437:]), batch_size=64)
    return tr, va, "synthetic 1x28x28 tensors"


def plain_loop(model, train, val, epochs: int) -> tuple[float, list[float]]:
    """The seeds' loop: train mode, zero_grad/backward/step, .item() per step, validation under no_grad."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    marks = []
    for _ in range(epochs):
        marks.append(time.perf_counter())
        model.train()
        total, correct, n = 0.0, 0, 0
        for x, y in train:
            opt.zero_grad()
            out = model(x)
            loss = crit(out, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            n += len(y)
        model.eval()
        vloss, vcorrect, vn = 0.0, 0, 0
        with torch.no_grad():
            for x, y in val:
                out = model(x)
                vloss += crit(out, y).item() * len(y)
                vcorrect += (out.argmax(1) == y).sum().item()
                vn += len(y)
    end = time.perf_counter()
    return end - t0, [b - a for a, b in zip(marks, marks[1:] + [end])]


class EpochClock(Callback):
    """Epoch start to the next epoch start: the epoch with every sink's epoch-end work (checkpoint included)."""

    def __init__(self):
        self.marks = []

    def on_epoch_start(self, state):
        self.marks.append(time.perf_counter())


def nbtrain_fit(model, train, val, epochs: int, tmp: str, i: int) -> tuple[float, list[float]]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    clock = EpochClock()
    t0 = time.perf_counter()
    fit(model=model, train=train, val=val, optimizer=opt, epochs=epochs, logdir=f"{tmp}/runs",
        checkpoint_dir=f"{tmp}/ck", run_name=f"r{i}", dashboard=False, progress=True, callbacks=[clock])
    end = time.perf_counter()
    return end - t0, [b - a for a, b in zip(clock.marks, clock.marks[1:])]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--synthetic", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = TrainSpec.default()
    train, val, what = loaders(spec, a.synthetic)
    runs = {"plain": [], "fit": []}
    epochs = {"plain": [], "fit": []}
    with tempfile.TemporaryDirectory() as tmp:
        nbtrain_fit(build_model(spec.model, (1, 28, 28)), train, val, 1, tmp, -1)    # warm-up (imports, allocator)
        plain_loop(build_model(spec.model, (1, 28, 28)), train, val, 1)
        for i in range(a.repeats):
            for name, fn in ((("plain", plain_loop), ("fit", nbtrain_fit)) if i % 2 == 0 else
                             (("fit", nbtrain_fit), ("plain", plain_loop))):
                torch.manual_seed(i)
                model = build_model(spec.model, (1, 28, 28))
                total, per = fn(model, train, val, a.epochs, tmp, i) if name == "fit" else fn(model, train, val, a.epochs)
                runs[name].append(total)
                epochs[name] += per[1:] if name == "plain" else per    # fit: epoch 2.. (start-to-start)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ep = {k: statistics.median(v) for k, v in epochs.items()}
    print(f"\nloop overhead: TrainSpec.default() CNN, {what}, {len(train)} train + {len(val)} val batches per epoch, "
          f"{a.epochs} epochs x {a.repeats} runs each (alternating), {a.threads} torch threads, torch {torch.__version__}")
    print("fit() sinks: TensorBoard (scalars, LRs, histograms, feature maps, kernels, graph, hparams), checkpoints "
          "every epoch (+best, +last), tqdm progress")
    print(f"whole run   plain {med['plain']:.3f} s   fit {med['fit']:.3f} s   ratio plain/fit {med['plain'] / med['fit']:.3f}"
          "   (includes fit's one-off start: graph trace, writer; end: hparams, last.pt)")
    print(f"per epoch   plain {ep['plain'] * 1000:.1f} ms   fit {ep['fit'] * 1000:.1f} ms   ratio plain/fit "
          f"{ep['plain'] / ep['fit']:.3f}   (median of epochs 2..{a.epochs}; target >= 0.97)")


if __name__ == "__main__":
    main()
