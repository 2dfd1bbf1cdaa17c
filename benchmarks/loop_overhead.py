"""fit() with its TensorBoard, checkpoint and progress sinks vs the seeds' plain PyTorch loop.

Same model (TrainSpec.default(): the small CNN), same loader (build_data on the offline digits, or
synthetic 1x28x28 tensors with --synthetic), same optimizer settings, measured in one run, alternating
the two loops. Prints seconds per epoch and the ratio plain / fit (1.0 = no overhead; target >= 0.97).

    .venv/bin/python benchmarks/loop_overhead.py [--epochs 4] [--repeats 6] [--threads 1] [--synthetic N]
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
            from nbtrain.data import build_data
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


def sink_costs(spec, train) -> None:
    """What each piece costs alone (CPU ms per call, median of 15), on the default CNN after one real step."""
    from nbtrain.callbacks import State
    from nbtrain.history import History
    from nbtrain.metrics import Accumulator
    from nbtrain.optim import Schedule
    from nbtrain.sinks.checkpoint import Checkpoint
    from nbtrain.sinks.tensorboard import TensorBoard
    from nbtrain.spec import SchedSpec
    model = build_model(spec.model, (1, 28, 28))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = next(iter(train))
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    opt.step()
    st = State(model=model, optimizer=opt, scheduler=Schedule(SchedSpec(), opt, 3, len(train)), history=History(),
               device=torch.device("cpu"), epochs=3)
    st.extra.update(probe=(x[:8], y[:8]), loop=spec.loop, epochs_done=1, callbacks=[])
    acc = Accumulator(["accuracy"])

    def cost(fn, n: int = 15, clock=time.process_time, after=lambda: None) -> float:
        fn()
        after()
        times = []
        for _ in range(n):
            t = clock()
            fn()
            times.append(clock() - t)
            after()
        return statistics.median(times) * 1000

    with tempfile.TemporaryDirectory() as tmp:
        tb = TensorBoard(f"{tmp}/tb", background=False)
        tb.on_fit_start(st)
        bg = TensorBoard(f"{tmp}/bg")
        bg.on_fit_start(st)
        ck = Checkpoint(f"{tmp}/ck")
        logs = {"epoch": 1, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.9, "lr": 1e-3}
        rows = [
            ("per step: Accumulator.update + model.train()", cost(lambda: (acc.update(loss, out, y), model.train()), 200)),
            ("per step: the plain loop's loss.item() + accuracy .item()",
             cost(lambda: (loss.item(), (out.argmax(1) == y).sum().item()), 200)),
            ("per log point: TensorBoard scalars", cost(lambda: tb.on_log(st, logs))),
            ("per epoch: TensorBoard, the loop's thread (snapshots, feature maps)",
             cost(lambda: bg.on_epoch_end(st, logs), clock=time.thread_time, after=lambda: bg.worker.join())),
            ("per epoch: TensorBoard, all of it on one thread", cost(lambda: tb.on_epoch_end(st, logs))),
            ("per epoch: checkpoint (epoch file + best.pt copy)", cost(lambda: ck.on_epoch_end(st, {"val_loss": 0.1}))),
            ("once: model graph (jit trace)", cost(lambda: tb._graph(model, x[:1]), 3)),
        ]
        bg.on_fit_end(st)
        tb.on_fit_end(st)
    print("\ncost of each piece alone (CPU ms per call, median; the loop's thread only where it says so):")
    for name, ms in rows:
        print(f"  {name:68s} {ms:8.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--costs", action="store_true", help="only time each sink event alone")
    ap.add_argument("--synthetic", type=int, default=0, metavar="N",
                    help="N random samples instead of digits (1: as many as digits)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    spec = TrainSpec.default()
    train, val, what = loaders(spec, a.synthetic)
    if a.costs:
        sink_costs(spec, train)
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
                epochs[name] += per[1:] if name == "plain" else per    # fit: epoch 2.. (start-to-start)
    print(f"\nloop overhead: TrainSpec.default() CNN, {what}, {len(train)} train + {len(val)} val batches per epoch, "
          f"{a.epochs} epochs x {a.repeats} runs each (alternating), {a.threads} torch threads, torch {torch.__version__}")
    print("fit() sinks: TensorBoard (scalars, LRs, histograms, feature maps, kernels, graph, hparams), checkpoints "
          "every epoch (+best, +last), tqdm progress")
    print("ratio = plain / fit (1.0: no overhead; target >= 0.97). wall: median and min over runs; "
          "cpu: this process's CPU seconds, all threads")
    for label, data in (("whole run", runs), (f"per epoch (epochs 2..{a.epochs})", epochs)):
        for i, clock in ((0, "wall"), (1, "cpu")):
            p = [x[i] for x in data["plain"]]
            f = [x[i] for x in data["fit"]]
            pm, fm = statistics.median(p), statistics.median(f)
            extra = f"   min: plain {min(p):.3f} fit {min(f):.3f} ratio {min(p) / min(f):.3f}" if clock == "wall" else ""
            print(f"{label:24s} {clock:4s}  median: plain {pm:.3f} s  fit {fm:.3f} s  ratio {pm / fm:.3f}{extra}")


if __name__ == "__main__":
    main()
