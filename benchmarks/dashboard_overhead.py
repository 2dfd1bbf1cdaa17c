"""What the live dashboard costs.

1. One redraw, in this process: the curves figure with new data (lines blitted over the cached axes), the
   same when the y limits changed (a full draw), the status line alone, and the feature-map / kernel images,
   each the median of 20 calls on a dashboard filled by a real fit.
2. fit() in a real Jupyter kernel (nbclient) against a plain PyTorch loop in the same kernel, on the default
   CNN and the offline digits, rounds in alternating order:
     plain      the loop a user writes by hand (forward, loss, backward, step; validation each epoch)
     fit bare   nbtrain.fit with no dashboard, no progress bar, no TensorBoard, no checkpoints
     fit dash   nbtrain.fit with the live dashboard (the default in a notebook)
     fit dash+tb  the same with TensorBoard logging (scalars, histograms, feature maps each epoch)
   The ratio is plain time / fit time (1.0: no overhead; the issue's target is >= 0.97 for "fit dash+tb"), in
   wall time and in CPU time of the kernel process (all threads: the render thread's work counts).

    .venv/bin/python benchmarks/dashboard_overhead.py [--epochs 8] [--rounds 3] [--skip-kernel]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def redraw_costs(n: int = 20) -> dict:
    import torch
    import nbtrain
    from nbtrain.sinks.dashboard import Dashboard
    torch.set_num_threads(1)
    dash = Dashboard(mode="widgets", threaded=False, every=1e9)
    spec = nbtrain.TrainSpec.default()
    with contextlib.redirect_stdout(io.StringIO()):          # outside a kernel, display() prints the widgets
        nbtrain.fit(spec, epochs=3, log_every=2, logdir="", checkpoint_dir="", dashboard=dash, progress=False)

    def median_ms(bump) -> tuple:
        wall, cpu = [], []
        for _ in range(n):
            bump()
            t, c = time.perf_counter(), time.thread_time()
            dash.redraw()
            wall.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)
        return 1000 * statistics.median(wall), 1000 * statistics.median(cpu)

    def more_data():
        dash._data_version += 1
        dash._heavy_at = -1e9

    def relayout():                        # y limits changed: axes, ticks and legends drawn again
        more_data()
        dash._plot._bg = None

    def new_images():
        dash._img_version += 1
        dash._heavy_at = -1e9
    return {"log points": len(dash.steps), "epochs": len(dash.epochs),
            "curves redraw ms": median_ms(more_data), "curves relayout ms": median_ms(relayout),
            "status only ms": median_ms(lambda: None),
            "images ms": median_ms(new_images)}


SETUP = """
import time, json, tempfile, torch, nbtrain
from nbtrain.data import build_data
from nbtrain.model import build_model
torch.set_num_threads({threads})
spec = nbtrain.TrainSpec.default()
bundle = build_data(spec.data)
EPOCHS = {epochs}

def parts():
    torch.manual_seed(0)
    model = build_model(spec.model, bundle.input_shape)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)

def plain():
    model, opt = parts()
    loss_fn = torch.nn.CrossEntropyLoss()
    t, c = time.perf_counter(), time.process_time()
    for epoch in range(EPOCHS):
        model.train()
        for x, y in bundle.train:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x).argmax(1) == y).sum().item() for x, y in bundle.val)
    return time.perf_counter() - t, time.process_time() - c

def with_fit(dashboard, tb):
    model, opt = parts()
    logdir = tempfile.mkdtemp() if tb else ""
    t, c = time.perf_counter(), time.process_time()
    nbtrain.fit(model=model, data=bundle, optimizer=opt, epochs=EPOCHS, dashboard=dashboard, progress=False,
                logdir=logdir, checkpoint_dir="")
    return time.perf_counter() - t, time.process_time() - c

RUNS = {{"plain": plain, "fit bare": lambda: with_fit(False, False), "fit dash": lambda: with_fit("auto", False),
        "fit dash+tb": lambda: with_fit("auto", True)}}
times = {{k: [] for k in RUNS}}
plain()                                   # warm up
"""

ROUND = """
for name in {order!r}:
    times[name].append(RUNS[name]())
"""


def kernel_ratios(epochs: int, rounds: int, threads: int) -> dict:
    import nbformat
    from nbclient import NotebookClient
    names = ["plain", "fit bare", "fit dash", "fit dash+tb"]
    cells = [SETUP.format(epochs=epochs, threads=threads)]
    for r in range(rounds):
        cells.append(ROUND.format(order=names if r % 2 == 0 else names[::-1]))
    cells.append("print(json.dumps(times))")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute(env=env)
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    times = json.loads(out.strip().splitlines()[-1])
    res = {}
    for k, v in times.items():
        wall, cpu = statistics.median(w for w, _ in v), statistics.median(c for _, c in v)
        res[k] = {"wall": wall, "cpu": cpu}
    for k in res:
        res[k]["wall ratio"] = res["plain"]["wall"] / res[k]["wall"]
        res[k]["cpu ratio"] = res["plain"]["cpu"] / res[k]["cpu"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the kernel (1: steadier on a shared CPU)")
    ap.add_argument("--skip-kernel", action="store_true")
    args = ap.parse_args()
    costs = redraw_costs()
    print(f"one redraw (median of 20), dashboard after {costs['log points']} log points, {costs['epochs']} epochs:")
    print(f"  {'':18s} {'wall':>7s} {'CPU':>7s}")
    for k in ("curves redraw ms", "curves relayout ms", "status only ms", "images ms"):
        print(f"  {k:18s} {costs[k][0]:7.2f} {costs[k][1]:7.2f}")
    if args.skip_kernel:
        return
    res = kernel_ratios(args.epochs, args.rounds, args.threads)
    print(f"\nin a Jupyter kernel, default CNN on digits, {args.epochs} epochs, {args.threads} torch thread(s), "
          f"median of {args.rounds} rounds:")
    print(f"  {'':12s} {'wall s':>7s} {'CPU s':>7s}  plain/this: {'wall':>6s} {'CPU':>6s}")
    for k, v in res.items():
        print(f"  {k:12s} {v['wall']:7.2f} {v['cpu']:7.2f}              {v['wall ratio']:6.3f} {v['cpu ratio']:6.3f}")


if __name__ == "__main__":
    main()
