"""fit() with its TensorBoard, checkpoint and progress sinks vs the seeds' plain PyTorch loop.

Same model (TrainSpec.default(): the small CNN), same loader (build_data on the offline digits, or
synthetic 1x28x28 tensors with --synthetic), same optimizer settings, measured in one run, alternating
the two loops. Prints seconds per epoch and the ratio plain / fit (1.0 = no overhead; target >= 0.97).

    .venv/bin/python benchmarks/loop_overhead.py [--epochs 4] [--repeats 12] [--threads 1] [--synthetic N]
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
from nbtrain.build.model import build_model  # noqa: E402
from nbtrain.spec import TrainSpec  # noqa: E402
from nbtrain.train.callbacks import Callback  # noqa: E402


def now():
    """(wall seconds, CPU seconds of this process: every thread, the TensorBoard worker included)."""
    return Clock(time.perf_counter(), time.process_time())


class Clock(tuple):
    def __new__(cls, wall, cpu):
        return super().__new__(cls, (wall, cpu))

    def __sub__(self, other):
        return Clock(self[0] - other[0], self[1] - other[1])


def loaders(spec, synthetic: int):
    """digits through build_data (the README's job), or ``synthetic`` random 1x28x28 samples (80% train)."""
    if not synthetic:
        try:
            from nbtrain.build.data import build_data
            b = build_data(spec.data)
            return b.train, b.val, "digits via build_data"
        except ImportError:
            pass
    g = torch.Generator().manual_seed(0)
    n = synthetic if synthetic > 1 else 1797
    cut = n * 4 // 5
    x, y = torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    ds = torch.utils.data.TensorDataset
    tr = torch.utils.data.DataLoader(ds(x[:cut], y[:cut]), batch_size=64, shuffle=True, generator=g)
    va = torch.utils.data.DataLoader(ds(x[cut:], y[cut:]), batch_size=64)
    return tr, va, f"{n} synthetic 1x28x28 samples in a DataLoader"


def plain_loop(model, train, val, epochs: int) -> tuple[float, list[float]]:
    """The seeds' loop: train mode, zero_grad/backward/step, .item() per step, validation under no_grad."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = torch.nn.CrossEntropyLoss()
    t0 = now()
    marks = []
    for _ in range(epochs):
        marks.append(now())
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
    end = now()
    return end - t0, [b - a for a, b in zip(marks, marks[1:] + [end])]


class EpochClock(Callback):
    """Epoch start to the next epoch start: the epoch with every sink's epoch-end work (checkpoint included)."""

    def __init__(self):
        self.marks = []

    def on_epoch_start(self, state):
        self.marks.append(now())


def nbtrain_fit(model, train, val, epochs: int, tmp: str, i: int) -> tuple[float, list[float]]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    clock = EpochClock()
    t0 = now()
    fit(model=model, train=train, val=val, optimizer=opt, epochs=epochs, logdir=f"{tmp}/runs",
        checkpoint_dir=f"{tmp}/ck", run_name=f"r{i}", dashboard=False, progress=True, callbacks=[clock])
    end = now()
    return end - t0, [b - a for a, b in zip(clock.marks, clock.marks[1:])]


def sink_costs(train, val, epochs: int, repeats: int) -> None:
    """What each sink of a real fit() costs the loop's thread: CPU time (time.thread_time) around every event call
    of every callback, per epoch, median over ``repeats`` runs; the TensorBoard worker's CPU is not in it."""
    from collections import defaultdict

    from nbtrain.train.callbacks import CallbackList
    spent: dict = defaultdict(float)

    def timed(self, name: str):
        if not name.startswith("on_"):
            return object.__getattribute__(self, name)

        def call(*a):
            for c in object.__getattribute__(self, "callbacks"):
                t = time.thread_time()
                try:
                    getattr(c, name)(*a)
                finally:
                    spent[(type(c).__name__, name)] += time.thread_time() - t
        return call

    runs: list[dict] = []
    plain = []
    spec = TrainSpec.default()
    with tempfile.TemporaryDirectory() as tmp:
        nbtrain_fit(build_model(spec.model, (1, 28, 28)), train, val, 1, tmp, -1)    # warm-up
        original = CallbackList.__getattribute__
        for i in range(repeats):
            torch.manual_seed(i)
            plain.append(plain_loop(build_model(spec.model, (1, 28, 28)), train, val, epochs)[0][1] / epochs)
            spent.clear()
            CallbackList.__getattribute__ = timed
            try:
                torch.manual_seed(i)
                nbtrain_fit(build_model(spec.model, (1, 28, 28)), train, val, epochs, tmp, i)
            finally:
                CallbackList.__getattribute__ = original
            runs.append(dict(spent))
    keys = sorted({k for r in runs for k in r}, key=lambda k: -statistics.median(r.get(k, 0.0) for r in runs))
    print(f"\nwhat each sink costs the loop's thread, CPU ms per epoch (median of {repeats} fits of {epochs} epochs; "
          f"the plain loop's epoch: {statistics.median(plain) * 1000:.0f} ms CPU):")
    for sink, event in keys:
        ms = statistics.median(r.get((sink, event), 0.0) for r in runs) * 1000 / epochs
        if ms >= 0.05:
            print(f"  {sink + '.' + event:44s} {ms:8.2f}")
    total = statistics.median(sum(r.values()) for r in runs) * 1000 / epochs
    print(f"  {'all sinks, all events':44s} {total:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--costs", action="store_true", help="only time each sink's events in real fits")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="N random samples instead of digits (1: as many as digits)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = TrainSpec.default()
    train, val, what = loaders(spec, a.synthetic)
    if a.costs:
        sink_costs(train, val, a.epochs, a.repeats)
        return
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
                steady = per[1:a.epochs - 1]           # the same epochs of both: 2..E-1, start to start
                epochs[name].append(Clock(sum(c[0] for c in steady), sum(c[1] for c in steady)))
    print(f"\nloop overhead: TrainSpec.default() CNN, {what}, {len(train)} train + {len(val)} val batches per epoch, "
          f"{a.epochs} epochs x {a.repeats} runs each (alternating), {a.threads} torch threads, torch {torch.__version__}")
    print("fit() sinks: TensorBoard (scalars, LRs, per-class scalars, confusion image, histograms, feature maps, "
          "kernels, graph, hparams), checkpoints every epoch (+best, +last), the run's JSON, the doctor's layer "
          "statistics, tqdm progress")
    print("ratio = plain / fit (1.0: no overhead). paired: the median (and quartiles) of each repeat's plain/fit, the "
          "two measured back to back (this machine's speed drifts by 20-30% over seconds: pairs cancel most of it); "
          "wall also as the ratio of the medians; cpu: this process's CPU seconds, all threads")
    for label, data in (("whole run", runs), (f"epochs 2..{a.epochs - 1}", epochs)):
        for i, clock in ((0, "wall"), (1, "cpu")):
            p = [x[i] for x in data["plain"]]
            f = [x[i] for x in data["fit"]]
            q = statistics.quantiles([x / y for x, y in zip(p, f)], n=4)
            pm, fm = statistics.median(p), statistics.median(f)
            extra = f"   medians: plain {pm:.3f} s fit {fm:.3f} s ratio {pm / fm:.3f}" if clock == "wall" else ""
            print(f"{label:16s} {clock:4s}  paired ratio {q[1]:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}){extra}")


if __name__ == "__main__":
    main()
