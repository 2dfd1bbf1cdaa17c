"""What the live dashboard costs.

1. One update, kernel side, in this process: what ``Dashboard.push`` does when there is something new (gather the
   new log points / epoch rows / LRs since the last update, the status line, JSON-ready dict, the widget's
   ``send``), median of 200 on a dashboard filled by a real fit. In a real kernel the same figure is taken by the
   dashboard itself (``Dashboard.costs``, with the message serialized and queued for ZMQ) and printed below.
2. fit() in a real Jupyter kernel (nbclient) against a plain PyTorch loop in the same kernel, on the default
   CNN and the offline digits, rounds in alternating order:
     plain      the loop a user writes by hand (forward, loss, backward, step; validation each epoch)
     fit bare   nbtrain.fit with no dashboard, no progress bar, no TensorBoard, no checkpoints
     fit dash   nbtrain.fit with the live dashboard (the default in a notebook)
     fit dash+tb  the same with TensorBoard logging (scalars, histograms, feature maps, kernels, graph)
   The ratio is plain time / fit time (1.0: no overhead), in wall time and in CPU time of the kernel process (all
   threads). Each loop runs at two lengths (--short and --long epochs): the difference gives the cost per epoch
   (the steady ratio, what a long run sees) and the rest the fixed cost of a run (the widget, the final PNG).
   --threads 0 (default) leaves torch's default thread count, where users train: work on any other kernel thread
   competes with torch's intra-op threads for the cores.

    PYTHONPATH=. .venv/bin/python benchmarks/dashboard_overhead.py [--short 3] [--long 12] [--rounds 3] [--threads 0]
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


def update_cost(n: int = 200) -> dict:
    """Median / 90th percentile wall ms of one update with new data, outside a kernel (the widget's comm is a
    no-op there, so this is the dashboard's own part)."""
    import nbtrain
    from nbtrain.sinks.dashboard import Dashboard
    from nbtrain.sinks.dashboard.view import LiveView

    def quiet_view(on_message, meta=None):
        view = LiveView(on_message, meta)
        view.display = lambda: None
        return view
    dash = Dashboard(mode="widgets", every=1e9, view=quiet_view)
    spec = nbtrain.TrainSpec.default()
    keep = []
    dash.on_fit_end = lambda state, _real=dash.on_fit_end: keep.append(dash.view)    # keep the live view
    with contextlib.redirect_stdout(io.StringIO()):
        nbtrain.fit(spec, epochs=2, log_every=2, logdir="", checkpoint_dir="", dashboard=dash, progress=False)
    dash.view = keep[0]
    times = []
    for i in range(n):
        dash.record.steps.append({"loss": 0.5, "accuracy": 0.9, "lr": 1e-3, "step": 1000 + i})
        dash.record.lr_rows.append([1000 + i, [1e-3]])
        t = time.perf_counter()
        dash.push()
        times.append(time.perf_counter() - t)
    times.sort()
    return {"median ms": 1000 * statistics.median(times), "p90 ms": 1000 * times[int(0.9 * n)],
            "log points": len(dash.record.steps)}


SETUP = """
import time, json, tempfile, torch, nbtrain
from nbtrain.build.data import build_data
from nbtrain.build.model import build_model
if {threads}:
    torch.set_num_threads({threads})
DASH_COSTS = []
spec = nbtrain.TrainSpec.default()
bundle = build_data(spec.data)

def parts():
    torch.manual_seed(0)
    model = build_model(spec.model, bundle.input_shape)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)

def plain(epochs):
    model, opt = parts()
    loss_fn = torch.nn.CrossEntropyLoss()
    t, c = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
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

def with_fit(dashboard, tb, epochs):
    model, opt = parts()
    logdir = tempfile.mkdtemp() if tb else ""
    t, c = time.perf_counter(), time.process_time()
    nbtrain.fit(model=model, data=bundle, optimizer=opt, epochs=epochs, dashboard=dashboard, progress=False,
                logdir=logdir, checkpoint_dir="")
    return time.perf_counter() - t, time.process_time() - c

RUNS = {{"plain": plain, "fit bare": lambda e: with_fit(False, False, e), "fit dash": lambda e: with_fit("auto", False, e),
        "fit dash+tb": lambda e: with_fit("auto", True, e)}}
first = {{k: RUNS[k]({short}) for k in RUNS}}     # a new kernel: imports, first figure, first graph trace
times = {{k: {{"short": [], "long": []}} for k in RUNS}}

# CPU seconds (time.thread_time of the thread that runs them) of the dashboard's and TensorBoard's parts
import collections, threading
from nbtrain.sinks.dashboard import Dashboard
from nbtrain.sinks.tensorboard import TensorBoard
cpu = collections.Counter()
depth = threading.local()
def _timed(cls, name, key):
    f = getattr(cls, name)
    def w(self, *a, **k):
        outer = not getattr(depth, "n", 0)        # the final update inside on_fit_end counts once, as "end"
        depth.n = getattr(depth, "n", 0) + 1
        t = time.thread_time()
        try:
            return f(self, *a, **k)
        finally:
            depth.n -= 1
            if outer:
                where = "loop" if threading.current_thread() is threading.main_thread() else "thread"
                cpu[key + " (" + where + ")"] += time.thread_time() - t
    setattr(cls, name, w)
for name in ("on_fit_start", "on_log", "on_batch_end", "on_epoch_end", "on_fit_end", "push"):
    _timed(Dashboard, name, "dashboard " + ("setup" if name == "on_fit_start" else "end" if name == "on_fit_end"
                                            else "updates" if name == "push" else "events"))
_end = Dashboard.on_fit_end
def _keep_costs(self, state):
    DASH_COSTS.extend(self.costs)
    return _end(self, state)
Dashboard.on_fit_end = _keep_costs
for name in ("on_fit_start", "on_log", "on_epoch_end", "on_fit_end", "_write_epoch"):
    _timed(TensorBoard, name, "tensorboard " + ("setup" if name == "on_fit_start" else "end" if name == "on_fit_end"
                                                else "heavy" if name == "_write_epoch" else "events"))
"""

ROUND = """
for name in {order!r}:
    for length, n in (("short", {short}), ("long", {long})):
        times[name][length].append(RUNS[name](n))
"""


def kernel_ratios(short: int, long: int, rounds: int, threads: int) -> dict:
    """Median wall / CPU seconds of each loop at two run lengths; from them the cost per epoch (slope) and the
    fixed cost per run (intercept), so a steady-state ratio and a run-start cost can be told apart."""
    import nbformat
    from nbclient import NotebookClient
    names = ["plain", "fit bare", "fit dash", "fit dash+tb"]
    cells = [SETUP.format(short=short, threads=threads)]
    for r in range(rounds):
        cells.append(ROUND.format(order=names if r % 2 == 0 else names[::-1], short=short, long=long))
    cells.append(f"cpu.clear(); DASH_COSTS.clear(); RUNS['fit dash+tb']({long}); print(json.dumps({{'first': first, "
                 "'times': times, 'cpu': dict(cpu), 'costs': sorted(DASH_COSTS)}))")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute(env=env)
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    data = json.loads(out.strip().splitlines()[-1])
    res = {}
    for k, v in data["times"].items():
        r = {}
        for i, unit in enumerate(("wall", "cpu")):
            for stat, f in (("median", statistics.median), ("best", min)):
                s_, l_ = f(x[i] for x in v["short"]), f(x[i] for x in v["long"])
                per_epoch = (l_ - s_) / (long - short)
                r[unit, stat] = {"short": s_, "long": l_, "per_epoch": per_epoch, "fixed": s_ - short * per_epoch}
            r[unit, "first"] = data["first"][k][i]
        res[k] = r
    res["cpu"], res["costs"] = data["cpu"], data["costs"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=int, default=3, help="epochs of the short run (the default spec's length)")
    ap.add_argument("--long", type=int, default=12, help="epochs of the long run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the kernel (0: torch's default)")
    ap.add_argument("--skip-kernel", action="store_true")
    args = ap.parse_args()
    c = update_cost()
    print(f"one update with new data, kernel side, this process (after {c['log points']} log points): "
          f"median {c['median ms']:.3f} ms, p90 {c['p90 ms']:.3f} ms")
    if args.skip_kernel:
        return
    res = kernel_ratios(args.short, args.long, args.rounds, args.threads)
    cpu, costs = res.pop("cpu"), res.pop("costs")
    plain = res["plain"]
    if costs:
        print(f"one update in the kernel (Dashboard.costs, {len(costs)} updates of a {args.long}-epoch run): median "
              f"{1000 * statistics.median(costs):.3f} ms, max {1000 * costs[-1]:.3f} ms")
    print(f"\nin a Jupyter kernel, default CNN on digits (23 train + 6 val batches an epoch), {args.threads or 'default'} torch "
          f"thread(s), {args.rounds} rounds; ratio = plain / this (1.0: no overhead). Median of the rounds, and best "
          f"(each loop's fastest round: what it costs without the other jobs of a shared machine)")
    for unit in ("wall", "cpu"):
        print(f"\n  {unit.upper():4s} {'':9s} {args.short:>2d} ep s   ratio: {args.short:>2d} ep  {args.long:>2d} ep  "
              f"| best:  {args.short:>2d} ep  {args.long:>2d} ep  ms/epoch  steady  fixed ms (vs plain)  | first run s")
        for k, v in res.items():
            m, b, pm, pb = v[unit, "median"], v[unit, "best"], plain[unit, "median"], plain[unit, "best"]
            print(f"  {k:14s} {m['short']:8.3f} {pm['short'] / m['short']:13.3f} {pm['long'] / m['long']:6.3f}  | "
                  f"{pb['short'] / b['short']:12.3f} {pb['long'] / b['long']:6.3f} {1000 * b['per_epoch']:9.1f} "
                  f"{pb['per_epoch'] / b['per_epoch']:7.3f} {1000 * b['fixed']:6.0f} ({1000 * (b['fixed'] - pb['fixed']):+5.0f})"
                  f"      | {v[unit, 'first']:8.3f}")
    print(f"\n  CPU ms of one {args.long}-epoch fit dash+tb (after the rounds: a rerun), by part and thread "
          f"(loop: the training thread; thread: a click's thread or TensorBoard's worker):")
    for k in sorted(cpu):
        print(f"    {k:32s} {1000 * cpu[k]:8.1f}")
    loop_ms = 1000 * sum(v for k, v in cpu.items() if k.endswith("(loop)"))
    all_ms = 1000 * sum(cpu.values())
    run_ms = 1000 * plain["wall", "best"]["long"]
    print(f"    {'all parts':32s} {all_ms:8.1f}   = {all_ms / run_ms:.1%} of the plain {args.long}-epoch run "
          f"({run_ms:.0f} ms); on the loop's thread {loop_ms:.1f} ms = {loop_ms / run_ms:.1%}")
    print()
    for k in ("fit dash", "fit dash+tb"):
        d, p = res[k]["wall", "best"], plain["wall", "best"]
        extra, steady = d["fixed"] - p["fixed"], p["per_epoch"] / d["per_epoch"]
        line = f"  {k} (best, wall): steady ratio {steady:.3f}, {1000 * extra:+.0f} ms a run"
        if steady > 0.97 and extra > 0:            # plain(E) / (plain(E) + extra + E * (d - p) per epoch) = 0.97
            epochs = extra / (p["per_epoch"] * (1 / 0.97 - 1 / steady))
            line += f": a whole-run ratio >= 0.97 from {epochs:.0f} epochs ({epochs * p['per_epoch']:.1f} s of plain training)"
        print(line)

if __name__ == "__main__":
    main()
