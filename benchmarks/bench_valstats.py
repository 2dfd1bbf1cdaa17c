"""Kernel-side cost of what validation collects beside the sums (nbtrain.train.valstats): the confusion matrix, the
running top-k of per-sample losses (classification) and the (true, pred) points (regression).

Prints, per validation batch, the time of Accumulator.update with and without ValStats (the difference is the
new cost), the once-per-validation read, a whole validation of the default digits CNN with and without it, and
the TensorBoard confusion image (drawn in the writer thread). Run:

    PYTHONPATH=$PWD python benchmarks/bench_valstats.py [--threads N] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from nbtrain import TrainSpec, build_data, build_model, insight
from nbtrain.train.metrics import Accumulator
from nbtrain.train.steps import evaluate, make_eval_step
from nbtrain.train.valstats import ValStats


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def per_batch(n: int, k: int, dev, reps: int = 300) -> tuple[float, float]:
    """(us per update without stats, us per update with stats) for a batch of n samples and k classes."""
    out, y = torch.randn(n, k, device=dev), torch.randint(0, k, (n,), device=dev)
    loss = nn.functional.cross_entropy(out, y)
    res = []
    for stats in (None, ValStats("classification", nn.CrossEntropyLoss(), k, device=dev)):
        acc = Accumulator(["accuracy"], device=dev, stats=stats)
        for _ in range(20):
            acc.update(loss, out, y)
        best = float("inf")
        for _ in range(5):
            acc.reset()
            _sync(dev)
            t = time.perf_counter()
            for _ in range(reps):
                acc.update(loss, out, y)
            _sync(dev)
            best = min(best, (time.perf_counter() - t) / reps)
        res.append(best * 1e6)
    return res[0], res[1]


def epoch_cost(k: int, dev, batches: int = 6, n: int = 64, reps: int = 50) -> float:
    """us per validation for ValStats alone: ``batches`` updates of n samples, then read() (the fold, the one
    transfer)."""
    out, y = torch.randn(n, k, device=dev), torch.randint(0, k, (n,), device=dev)
    s = ValStats("classification", nn.CrossEntropyLoss(), k, device=dev)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        s.reset()
        for _ in range(batches):
            s.update(out, y)
        s.read()
        best = min(best, time.perf_counter() - t)
    return best * 1e6


def digits_validation(dev, reps: int = 10) -> tuple[float, float]:
    """ms per whole validation (359 samples, 6 batches) of the default CNN, without and with ValStats."""
    spec = TrainSpec.default()
    b = build_data(spec.data).to(dev)
    model = build_model(spec.model, b.input_shape).to(dev)
    step = make_eval_step(model, nn.CrossEntropyLoss(), device_type=dev.type)
    res = []
    for stats in (None, ValStats("classification", nn.CrossEntropyLoss(), 10, device=dev)):
        acc = Accumulator(["accuracy"], device=dev, stats=stats)
        evaluate(model, b.val, step, acc, dev)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            evaluate(model, b.val, step, acc, dev)
            times.append(time.perf_counter() - t)
        res.append(sorted(times)[len(times) // 2] * 1e3)
    return res[0], res[1]


def figure_cost(k: int, reps: int = 5) -> tuple[float, float]:
    """ms of CPU (thread time) for TensorBoard's confusion images of k classes: (the per-epoch heat map drawn with
    torch, the labelled matplotlib figure of the run's end)."""
    cm = torch.randint(0, 50, (k, k)).tolist()
    insight.figure_rgb(insight.confusion_figure(cm))
    out = []
    for draw in (lambda: insight.confusion_image(cm),
                 lambda: insight.figure_rgb(insight.confusion_figure(cm, [str(i) for i in range(k)]))):
        t = time.thread_time()
        for _ in range(reps):
            draw()
        out.append((time.thread_time() - t) / reps * 1e3)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    print(f"device {dev}, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    for n, k in ((64, 10), (256, 10), (256, 100), (1024, 1000)):
        base, with_stats = per_batch(n, k, dev)
        print(f"update, batch {n:5d} x {k:4d} classes: {base:7.1f} us -> {with_stats:7.1f} us "
              f"(+{with_stats - base:.1f} us per validation batch)")
    for k in (10, 100):
        print(f"ValStats alone, 6 batches of 64, {k} classes, updates + read: {epoch_cost(k, dev):.0f} us per "
              "validation")
    base, with_stats = digits_validation(dev)
    print(f"digits validation (default CNN, 6 batches): {base:.2f} ms -> {with_stats:.2f} ms "
          f"({(with_stats / base - 1) * 100:+.1f} %)")
    for k in (10, 30):
        per_epoch, labelled = figure_cost(k)
        print(f"TensorBoard confusion images, {k} classes: {per_epoch:.2f} ms CPU per epoch (torch, writer thread), "
              f"{labelled:.0f} ms once at the end (matplotlib)")


if __name__ == "__main__":
    main()
