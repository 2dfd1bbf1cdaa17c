"""What each way of starting a run costs before its first step, and what 2 CPU processes give over 1.

Run it where nothing else loads the machine (paired rounds; the median of each is printed):

    OMP_NUM_THREADS=1 python benchmarks/launchers.py --repeats 5

Start-up: seconds from the call to the end of the first optimizer step, for
- ``fit(spec)`` in this process (the spec built, the data made, the model on the device),
- ``nbtrain run spec.json`` (a fresh Python: imports, then the same),
- ``fit(spec, processes=1)`` and ``processes=2`` (torchrun from this process: its agent, the rendezvous, N workers),
- ``torchrun --nproc_per_node 2 -m nbtrain run spec.json`` (torchrun from a terminal),
- ``fit(spec, processes=2, engine="ray")`` when ray is installed (a local Ray instance started in the round;
  benchmarks/ray_startup.py shows where its seconds go, process by process).
The first step is seen by a callback (in this process) or by rank 0's relay events (nbtrain.train.relay, stamped
with the wall clock); a command line run prints its first step time from a tiny callback script.

Throughput: samples per second of the same spec over epochs 2.. (the first epoch pays for warm-up), for a plain
PyTorch loop in this process, ``fit`` in this process, and ``processes=1`` / ``processes=2``; each row also as a
ratio to the plain loop of the same round. Every worker runs with 1 thread (OMP_NUM_THREADS=1), as torchrun sets it.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbtrain as nb  # noqa: E402 - after the checkout is put first on the path
from nbtrain.train.callbacks import Callback  # noqa: E402

FIRST_STEP = """import sys, time
import nbtrain as nb
from nbtrain.train.callbacks import Callback
class First(Callback):
    def on_batch_end(self, state, logs):
        if state.step == 1 and state.rank == 0:
            print("FIRST", time.time(), flush=True)
nb.fit(sys.argv[1], callbacks=[First()], dashboard=False, progress=False)
"""


def spec_for(folder: Path, size: int, epochs: int):
    spec = nb.TrainSpec.default()
    d = spec.data
    d.dataset, d.image_shape, d.size, d.num_classes = "synthetic", [1, 16, 16], size, 10
    d.image_size, d.train_transforms, d.val_transforms, d.val_split = 0, [], [], 0.1
    d.batch_size = 64
    spec.model = nb.ModelSpec(layers=[
        nb.LayerSpec("Conv2d", params={"out_channels": 16, "kernel_size": 3, "padding": 1}), nb.LayerSpec("ReLU"),
        nb.LayerSpec("MaxPool2d", params={"kernel_size": 2}), nb.LayerSpec("Flatten"),
        nb.LayerSpec("Linear", params={"out_features": 128}), nb.LayerSpec("ReLU"),
        nb.LayerSpec("Linear", params={"out_features": 10})])
    spec.optim.type, spec.optim.lr = "SGD", 0.05
    spec.loop.epochs, spec.loop.log_every, spec.loop.device = epochs, 1, "cpu"
    spec.loop.logdir = spec.loop.checkpoint_dir = ""
    spec.loop.histograms = spec.loop.feature_maps = False
    return nb.TrainSpec.from_dict(spec.to_dict())


class Clock(Callback):
    """Wall-clock time of the first step, and of each epoch end (with the step count then)."""

    def __init__(self):
        self.first, self.ends = None, []

    def on_batch_end(self, state, logs):
        if self.first is None:
            self.first = time.time()

    def on_epoch_end(self, state, logs):
        self.ends.append((time.time(), state.step))


class Seen(Callback):
    """A display for processes= runs: the relay's wall-clock stamps of rank 0's first step and epoch ends."""

    def __init__(self):
        self.first, self.ends = None, []

    def on_log(self, state, logs):
        if self.first is None:
            self.first = state.extra.get("t", time.time())

    def on_epoch_end(self, state, logs):
        self.ends.append((state.extra.get("t", time.time()), state.step))


def rate(ends, samples_per_step) -> float:
    (t0, s0), (t1, s1) = ends[0], ends[-1]
    return (s1 - s0) * samples_per_step / (t1 - t0)


def in_process(spec) -> tuple[float, float]:
    c = Clock()
    t = time.time()
    nb.fit(spec, callbacks=[c], dashboard=False, progress=False, doctor=False)
    return c.first - t, rate(c.ends, spec.data.batch_size)


def processes(spec, n: int) -> tuple[float, float]:
    s = Seen()
    t = time.time()
    nb.fit(spec, processes=n, dashboard=s)
    return s.first - t, rate(s.ends, spec.data.batch_size * n)


def command(args: list[str]) -> float:
    t = time.time()
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    first = [float(line.split()[1]) for line in out.splitlines() if line.startswith("FIRST ")]
    return first[0] - t


def plain(spec) -> float:
    """The plain PyTorch loop over the same data and model: samples per second over epochs 2.."""
    from nbtrain.build.parts import build_parts
    p = build_parts(spec, spec.loop, {}, 0, 1, torch.device("cpu"))
    model, opt, loss_fn = p.model, p.optimizer, torch.nn.CrossEntropyLoss()
    ends = []
    for _ in range(spec.loop.epochs):
        for x, y in p.train:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        ends.append((time.time(), len(ends) + 1))
    return rate(ends, spec.data.batch_size * len(p.train))


def ray_startup(spec) -> float | None:
    try:
        import ray  # optional: the row is left out without it
    except ImportError:
        return None
    if "engine" not in inspect.signature(nb.fit).parameters:    # this checkout has no Ray path
        return None
    s = Seen()
    t = time.time()
    nb.fit(spec, processes=2, engine="ray", ray=dict(use_gpu=False), dashboard=s, run_name=f"ray-{t:.0f}")
    ray.shutdown()          # each round pays the local Ray start, as the first Ray fit in a kernel does
    return s.first - t


def round_(folder: Path, size: int, epochs: int) -> dict:
    spec = spec_for(folder, size, epochs)
    path = folder / "spec.json"
    spec.save(path)
    script = folder / "first_step.py"
    script.write_text(FIRST_STEP)
    row = {}
    row["fit: start"], row["fit: samples/s"] = in_process(spec)
    row["plain loop: samples/s"] = plain(spec)
    row["nbtrain run: start"] = command([sys.executable, str(script), str(path)])
    row["torchrun 2: start"] = command([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                        "--nproc_per_node", "2", str(script), str(path)])
    for n in (1, 2):
        row[f"processes={n}: start"], row[f"processes={n}: samples/s"] = processes(spec, n)
    r = ray_startup(spec)
    if r is not None:
        row["ray 2 workers: start"] = r
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=20000, help="synthetic samples (90% train)")
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            rows.append(round_(Path(tmp), a.size, a.epochs))
            print(f"round {i + 1}: " + json.dumps({k: round(v, 3) for k, v in rows[-1].items()}), flush=True)
    print(f"\nmedian of {a.repeats} rounds, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for k in rows[0]:
        med = statistics.median(r[k] for r in rows)
        ratio = ""
        if k.endswith("samples/s"):
            ratio = f"   x{statistics.median(r[k] / r['plain loop: samples/s'] for r in rows):.2f} the plain loop"
        unit = " s" if k.endswith("start") else ""
        print(f"  {k:26s} {med:10.2f}{unit}{ratio}")


if __name__ == "__main__":
    main()
