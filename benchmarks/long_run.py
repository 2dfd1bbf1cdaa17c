"""Does an epoch cost more late in a long run than early? fit() with log_every=1 over >= 15,000 steps.

A small MLP (784-256-10) on synthetic in-memory data, 256 steps per epoch (batch 64), every step a log point, the
default sinks (TensorBoard, checkpoints, run record, doctor, layer statistics; text progress in a plain process).
A callback reads the CPU time of the loop's thread (``time.thread_time``) at each epoch's start: an epoch's cost is
the time to the next epoch's start, so every sink's epoch-end work (the checkpoint sink runs last) is inside, and the
work of other threads and other processes is not. Printed per long run: the median epoch cost of epochs 3-7 (early)
and of the last 5 complete ones (late), and late / early (the Charts issue's target: <= 1.1; it measured 1.40 before
the doctor's running minimum and the checkpoint's incremental history). Paired: a short run of the same workload
between long runs, whose median epoch is what an epoch costs when the run is young; late(long) / median(short) says
the same with the other run as the reference.

``--prefill N`` instead asks the question directly and in minutes: short runs (``--short`` epochs) in pairs, one with
an empty run record, one whose record gets, at the run's start, N log points, N layer-statistics rows and N LR rows
of an earlier stretch (what a run of N log points has); printed: the median epoch (epochs 3 on) of each and their
ratio per pair, whose median should be ~1.0 when no per-step or per-epoch cost depends on the record's length.

Then one run under tracemalloc: the Python memory still allocated per logged step (end of the last epoch minus end
of epoch 5, over the steps between), i.e. what every log point leaves behind in the run's records.

Run (quiet machine): PYTHONPATH=$PWD .venv/bin/python benchmarks/long_run.py [--epochs 60] [--short 8] [--rounds 3]
  [--threads 1] [--prefill 15360]; --files off: logdir and checkpoint_dir empty (no TensorBoard, no checkpoints, no
  run record); --steps S: S steps an epoch (smoke runs).
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
    """CPU seconds of the loop's thread per epoch, epoch start to the next epoch start (and the traced memory at each
    epoch start, when tracing); ``prefill``: log points, layer rows and LR rows put into the record at the start."""

    def __init__(self, prefill: int = 0):
        from nbtrain import Callback

        outer = self
        self.costs, self.memory, self._t = [], [], None

        class Clock(Callback):
            def on_fit_start(self, state):
                if prefill:
                    fill(state.history, prefill)

            def on_epoch_start(self, state):
                t = time.thread_time()
                if outer._t is not None:
                    outer.costs.append(t - outer._t)
                outer._t = t
                if tracemalloc.is_tracing():
                    outer.memory.append((state.step, tracemalloc.get_traced_memory()[0]))
        self.callback = Clock()


def fill(h, n: int) -> None:
    """n rows of an earlier stretch in each list a log point appends to (steps before this run's first)."""
    layers = max(1, len(h.layer_names))
    h.steps[:0] = [{"step": i - n, "epoch": 0, "loss": 1.0, "accuracy": 0.5, "lr": 0.05} for i in range(n)]
    h.layer_rows[:0] = [{"step": i - n, "grad": [0.1] * layers, "update": [1e-3] * layers} for i in range(n)]
    h.lr_rows[:0] = [[i - n, [0.05]] for i in range(n)]


def run(epochs: int, files: bool, tmp: str, name: str, prefill: int = 0) -> EpochCPU:
    from torch.utils.data import DataLoader, TensorDataset

    import nbtrain
    clock, (train, val), net = EpochCPU(prefill), data(), model()
    where = {"logdir": tmp, "checkpoint_dir": tmp, "run_name": name} if files else {"logdir": "", "checkpoint_dir": ""}
    loader = DataLoader(TensorDataset(*train), batch_size=BATCH, shuffle=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        nbtrain.fit(model=net, train=loader, val=DataLoader(TensorDataset(*val), batch_size=256), epochs=epochs,
                    log_every=1, optimizer=torch.optim.SGD(net.parameters(), lr=0.05), callbacks=[clock.callback],
                    dashboard=True, **where)
    return clock


def ratios(long: list, short: list) -> dict:
    early, late = statistics.median(long[2:7]), statistics.median(long[-5:])    # costs[i]: epoch i+1, the last excluded
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


def prefilled(args, files: bool, tmp: str) -> list:
    """Pairs of short runs, an empty record and one prefilled with ``args.prefill`` rows: the per-epoch CPU ratio."""
    rows = []
    for r in range(args.rounds):
        pair = {}
        for kind in (("empty", "full") if r % 2 == 0 else ("full", "empty")):
            costs = run(args.short, files, tmp, f"{kind}{r}", args.prefill if kind == "full" else 0).costs
            pair[kind] = statistics.median(costs[2:])
        rows.append(pair["full"] / pair["empty"])
        print(f"round {r + 1}: empty record {pair['empty'] * 1e3:.1f} ms an epoch, record of {args.prefill} rows "
              f"{pair['full'] * 1e3:.1f} ms, ratio {rows[-1]:.3f}", flush=True)
    print(f"median ratio (record of {args.prefill} rows / empty): {statistics.median(rows):.3f}")
    return rows


def main(argv=None) -> list:
    global STEPS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--steps", type=int, default=STEPS, help="steps an epoch (256; fewer for a smoke run)")
    ap.add_argument("--short", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--files", choices=("on", "off"), default="on")
    ap.add_argument("--memory-epochs", type=int, default=20)
    ap.add_argument("--prefill", type=int, default=0, metavar="N",
                    help="paired short runs: an empty record vs one holding N log points (no long run)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    files, rows = args.files == "on", []
    STEPS = args.steps
    if args.prefill:
        print(f"{args.short} x {STEPS} steps (log_every=1), record of {args.prefill} rows vs empty, torch threads "
              f"{torch.get_num_threads()}, files {args.files}")
        with tempfile.TemporaryDirectory() as tmp:
            return prefilled(args, files, tmp)
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
