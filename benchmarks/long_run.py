"""Does an epoch cost more late in a long run than early? fit() with log_every=1 over >= 15,000 steps.

A small MLP (784-256-10) on synthetic in-memory data, 256 steps per epoch (batch 64), every step a log point, the
default sinks (TensorBoard, checkpoints, run record, doctor, layer statistics; text progress in a plain process).
A callback reads the CPU time of the loop's thread (``time.thread_time``) at each epoch's start and end, so the work
of other threads and other processes does not count. Printed per long run: the median epoch cost of epochs 3-7
(early) and of the last 5 (late), and late / early (the Charts issue's target: <= 1.1; it measured 1.40 before the
doctor's running minimum). Paired: a short run of the same workload between long runs, whose median epoch is what an
epoch costs when the run is young; late(long) / median(short) says the same with the other run as the reference.

Then one run under tracemalloc: the Python memory still allocated per logged step (end of the last epoch minus end
of epoch 5, over the steps between), i.e. what every log point leaves behind in the run's records.

Run (quiet machine): PYTHONPATH=$PWD .venv/bin/python benchmarks/long_run.py [--epochs 60] [--short 8] [--rounds 3]
  [--threads 1]; --files off: logdir and checkpoint_dir empty (no TensorBoard, no checkpoints, no run record).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
import tracemalloc

import torch
from torch import nn

STEPS, BATCH = 256, 64


def data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(STEPS * BATCH, 784, generator=g)
    y = (x[:, :10].argmax(1) + (x[:, 10] > 1).long()) % 10
    return (x, y), (x[:2048], y[:2048])


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


class EpochCPU:
    """CPU seconds of the loop's thread per epoch (and the traced memory at each epoch end, when tracing)."""

    def __init__(self):
        from nbtrain import Callback

        outer = self
        self.costs, self.memory = [], []

        class Clock(Callback):
            def on_epoch_start(self, state):
                outer._t = time.thread_time()

            def on_epoch_end(self, state, logs):
                outer.costs.append(time.thread_time() - outer._t)
                if tracemalloc.is_tracing():
                    outer.memory.append((state.step, tracemalloc.get_traced_memory()[0]))
        self.callback = Clock()


def run(epochs: int, files: bool, tmp: str, name: str) -> EpochCPU:
    from torch.utils.data import DataLoader, TensorDataset

    import nbtrain
    clock, (train, val), net = EpochCPU(), data(), model()
    where = {"logdir": tmp, "checkpoint_dir": tmp, "run_name": name} if files else {"logdir": "", "checkpoint_dir": ""}
    loader = DataLoader(TensorDataset(*train), batch_size=BATCH, shuffle=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        nbtrain.fit(model=net, train=loader, val=DataLoader(TensorDataset(*val), batch_size=256), epochs=epochs,
                    log_every=1, optimizer=torch.optim.SGD(net.parameters(), lr=0.05), callbacks=[clock.callback],
                    dashboard=True, **where)
    return clock


def ratios(long: list, short: list) -> dict:
    early, late = statistics.median(long[2:7]), statistics.median(long[-5:])
    return {"early_ms": early * 1e3, "late_ms": late * 1e3, "late/early": late / early,
            "short_ms": statistics.median(short) * 1e3, "late/short": late / statistics.median(short)}


def memory_per_step(epochs: int, files: bool, tmp: str) -> float:
    tracemalloc.start()
    try:
        clock = run(epochs, files, tmp, "memory")
    finally:
        tracemalloc.stop()
    (s0, m0), (s1, m1) = clock.memory[4], clock.memory[-1]
    return (m1 - m0) / (s1 - s0)


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--short", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--files", choices=("on", "off"), default="on")
    ap.add_argument("--memory-epochs", type=int, default=20)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    files, rows = args.files == "on", []
    print(f"{args.epochs} x {STEPS} steps (log_every=1), short run {args.short} epochs, torch threads "
          f"{torch.get_num_threads()}, files {args.files}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            short = run(args.short, files, tmp, f"short{r}").costs
            rows.append(ratios(run(args.epochs, files, tmp, f"long{r}").costs, short))
            print("round {}: early {early_ms:.1f} ms, late {late_ms:.1f} ms, late/early {late/early:.3f}, short {short_ms:.1f}"
                  " ms, late/short {late/short:.3f}".format(r + 1, **rows[-1]))
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print("median: late/early {late/early:.3f}, late/short {late/short:.3f}".format(**med))
        per_step = memory_per_step(args.memory_epochs, files, tmp)
    print(f"memory per logged step (tracemalloc, epochs 5-{args.memory_epochs}): {per_step:.0f} bytes")
    return rows


if __name__ == "__main__":
    main()
