"""Where the seconds of a cold ``fit(spec, ray=dict(num_workers=2))`` go: a timeline of every process the call
starts (Ray's GCS, raylet, agents, the Channel, Ray Train's controller and helper actors, the workers) and each
change of its title (``ray::IDLE`` -> ``ray::RayTrainWorker.init_train_context`` ...), with the CPU seconds each
process had used when rank 0's first step was seen. Run it where nothing else loads the machine:

    OMP_NUM_THREADS=1 python benchmarks/ray_startup.py

To compare two checkouts, run it with each one first on the path (``PYTHONPATH=<checkout> python <this file>``): the
call is the one both forms accept (``processes=2, engine="ray"``). Needs ray (``pip install "nbtrain[ray]"``) and
psutil. The spec is launchers.py's (a small CNN on 16x16 synthetic images), 1 epoch of 4000 samples.
"""
from __future__ import annotations

import collections
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

T0 = time.time()
import psutil  # noqa: E402 - the clock starts before the imports it measures

marks: list[tuple[float, str]] = []
titles: dict[int, str] = {}
cpu: dict[int, tuple[str, float]] = {}       # pid -> (its last busy title, user+sys seconds)
done = threading.Event()


def mark(what: str) -> None:
    marks.append((time.time() - T0, what))


def _sample() -> None:
    me = psutil.Process()
    while not done.is_set():
        for p in me.children(recursive=True):
            try:
                title, t = " ".join(p.cmdline()), p.cpu_times()
            except psutil.Error:
                continue
            busy = title if title and "IDLE" not in title else cpu.get(p.pid, (title or "?", 0))[0]
            cpu[p.pid] = (busy, t.user + t.system)
            if titles.get(p.pid) != title:
                titles[p.pid] = title
                mark(f"pid {p.pid}: {title[:100]}")
        time.sleep(0.1)


def _kind(title: str) -> str:
    """A process's kind: ``ray::Actor`` for Ray's workers, else its program (python scripts by their file)."""
    words = title.split()
    if not words:
        return "?"
    if words[0].startswith("ray::"):
        return words[0].split(".")[0]
    if "python" in words[0] and len(words) > 1:
        return words[-1] if words[1] == "-u" and len(words) == 2 else next(
            (w.split("site-packages/")[-1] for w in words[1:] if w.endswith(".py")), words[1])
    return words[0].rsplit("/", 1)[-1]


def main() -> None:
    threading.Thread(target=_sample, daemon=True).start()
    import ray
    mark("import ray")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import launchers  # the spec of the launcher benchmark (imports nbtrain and torch)

    import nbtrain as nb
    from nbtrain.train.callbacks import Callback
    mark("import nbtrain, torch")
    first: dict = {}

    class Seen(Callback):
        def on_fit_start(self, state):
            mark("driver: rank 0's start event")

        def on_log(self, state, logs):
            if not first:
                first.update(t=state.extra.get("t", time.time()), cpu=dict(cpu))
                mark(f"driver: rank 0's first step (stamped {first['t'] - T0:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        spec = launchers.spec_for(Path(tmp), 4000, 1)
        t = time.time()
        nb.fit(spec, processes=2, engine="ray", ray=dict(use_gpu=False), dashboard=Seen(), run_name="probe")
        mark("fit returned")
    done.set()
    ray.shutdown()
    for at, what in marks:
        print(f"{at:7.2f}  {what}")
    by = collections.Counter()
    for title, c in first["cpu"].values():
        by[_kind(title)] += c
    print(f"\ncall to rank 0's first step: {first['t'] - t:.2f} s; CPU of the processes the call started until then: "
          f"{sum(by.values()):.1f} s ({os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")
    for kind, c in by.most_common():
        print(f"  {c:6.1f} s  {kind}")


if __name__ == "__main__":
    main()
