"""What each insight panel costs on the kernel side, in this process (issue 17): ms per log point / per epoch.

On the default spec (CNN on the offline digits, 23 train batches an epoch) with the live dashboard in widgets mode
(its view sends into a no-op comm, as outside a kernel) and every panel on, fit runs ``--epochs`` epochs at
``--log-every``; the sinks time themselves (perf_counter, the training thread):

  layer stats, copy       w_prev copied on the device at the start of a log point's step (LayerStats.costs)
  layer stats, log point  gradient norms + update/weight ratios, one host sync (LayerStats.costs)
  layer stats, epoch      the probe batch through the model with hooks: activation mean / std / dead (LayerStats.costs)
  insight, epoch          the confusion / per-class / top-loss numbers and thumbnails (Dashboard.panel_costs; with a
                          fake History in the SEAMS format where this checkout's loop does not collect them)
  doctor rules, log point the layer rules on the rows so far (timed around Doctor._check_layers)
  memory line             one read of the CUDA memory counters for the status (CPU: the early return)
  feed, one update        one Dashboard.push carrying a new layer row (and the insight on epoch ends)

Then the whole-fit ratio in this process: fit with the dashboard and LayerStats against the same fit with the
dashboard alone (doctor off in both), rounds alternating, best of the rounds (wall). Threads: torch's default unless
--threads N. This is in-process, not in a Jupyter kernel: benchmarks/dashboard_overhead.py measures the kernel.

    PYTHONPATH=. .venv/bin/python benchmarks/panels_cost.py [--epochs 4] [--log-every 20] [--rounds 3] [--threads 0]
        [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _ms(xs) -> str:
    return f"median {1000 * statistics.median(xs):7.3f} ms, max {1000 * max(xs):7.3f} ms (n={len(xs)})" if xs else "n=0"


def _view():
    from nbtrain.sinks.dashboard.view import LiveView

    def make(on_message, meta=None):
        v = LiveView(on_message, meta)
        v.display = lambda: None
        return v
    return make


def fake_insight():
    """A callback filling the History's validation fields in the SEAMS format where the loop does not (before the
    confusion part lands): a 10-class matrix, per-class metrics, 8 top losses."""
    import nbtrain

    class FakeInsight(nbtrain.Callback):
        fake = False

        def on_validation_end(self, state, logs):
            h = state.history
            if getattr(h, "per_class", None) and not self.fake:
                return
            self.fake, k = True, 10
            h.confusion = [[[20 if i == j else 1 for j in range(k)] for i in range(k)]]
            h.per_class = [{"precision": [0.9] * k, "recall": [0.9] * k, "f1": [0.9] * k, "support": [29] * k}]
            h.top_losses = [{"index": i, "loss": 3.0 - i / 10, "true": i % k, "pred": (i + 1) % k} for i in range(8)]
            h.class_names = None
    return FakeInsight()


def timed_parts(epochs: int, log_every: int, device: str = "cpu") -> dict:
    import nbtrain
    from nbtrain.sinks.dashboard import Dashboard
    from nbtrain.sinks.doctor import Doctor
    from nbtrain.sinks.layerstats import LayerStats
    from nbtrain.sinks.memory import cuda_memory, memory_line

    rules, pushes = [], []
    real_check, real_push = Doctor._check_layers, Dashboard.push

    def check(self, state):
        t = time.perf_counter()
        real_check(self, state)
        rules.append(time.perf_counter() - t)

    def push(self, final=False):
        t = time.perf_counter()
        real_push(self, final)
        pushes.append(time.perf_counter() - t)
    Doctor._check_layers, Dashboard.push = check, push
    try:
        stats, dash = LayerStats(), Dashboard(mode="widgets", every=0.5, view=_view())
        nbtrain.fit(nbtrain.TrainSpec.default(), epochs=epochs, log_every=log_every, logdir="", checkpoint_dir="",
                    progress=False, dashboard=dash, callbacks=[stats, fake_insight()], device=device)
    finally:
        Doctor._check_layers, Dashboard.push = real_check, real_push
    mem = []
    for _ in range(200):
        t = time.perf_counter()
        memory_line(cuda_memory(dash.state.device))
        mem.append(time.perf_counter() - t)
    return {"layer stats, copy": stats.costs["copy"], "layer stats, log point": stats.costs["log"],
            "layer stats, epoch": stats.costs["epoch"], "insight, epoch": dash.panel_costs,
            "doctor rules, log point": rules, "memory line": mem, "feed, one update": pushes,
            "_layers": len(stats.names), "_acts": len(stats.act_names),
            "_memory": memory_line(cuda_memory(dash.state.device)) or "(no memory line: not CUDA)",
            "_notes": list(dash.state.notes), "_device": str(dash.state.device)}


def whole_fit(epochs: int, log_every: int, rounds: int, device: str = "cpu") -> dict:
    import nbtrain
    from nbtrain.sinks.dashboard import Dashboard
    from nbtrain.sinks.layerstats import LayerStats

    def run(panels: bool) -> float:
        dash = Dashboard(mode="widgets", every=0.5, view=_view())
        cbs = [LayerStats(), fake_insight()] if panels else []
        t = time.perf_counter()
        nbtrain.fit(nbtrain.TrainSpec.default(), epochs=epochs, log_every=log_every, logdir="", checkpoint_dir="",
                    progress=False, doctor=False, dashboard=dash, callbacks=cbs, device=device)
        return time.perf_counter() - t
    run(True)                                  # warm-up: imports, the data cache, the first figure
    times = {"dashboard": [], "dashboard + panels": []}
    for r in range(rounds):
        for panels in ((False, True) if r % 2 == 0 else (True, False)):
            times["dashboard + panels" if panels else "dashboard"].append(run(panels))
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="whole-fit rounds (0: the parts only)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    args = ap.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), default spec (CNN, digits), "
          f"{args.epochs} epochs, log_every {args.log_every}; kernel-side CPU cost per part, training thread:")
    parts = timed_parts(args.epochs, args.log_every, args.device)
    print(f"  device {parts.pop('_device')}: {parts.pop('_memory')}; doctor's notes: {parts.pop('_notes')}")
    print(f"  ({parts.pop('_layers')} layers with parameters, {parts.pop('_acts')} activation layers watched)")
    for k, v in parts.items():
        print(f"  {k:26s} {_ms(v)}")
    if not args.rounds:                        # --rounds 0: the parts only
        return
    times = whole_fit(args.epochs, args.log_every, args.rounds, args.device)
    base, full = min(times["dashboard"]), min(times["dashboard + panels"])
    print(f"\n  whole fit, best of {args.rounds} (wall): dashboard {base:.3f} s, dashboard + panels {full:.3f} s, "
          f"ratio {base / full:.3f} ({1000 * (full - base) / args.epochs:+.1f} ms per epoch)")


if __name__ == "__main__":
    main()
