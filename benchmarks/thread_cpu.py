"""Where a run's CPU goes, thread by thread, in a real kernel: peers.py's variants over their measured epochs.

Per thread of the kernel process (from /proc/self/task/<tid>/schedstat and status, so in nanoseconds, not ticks):
CPU time on a core, time waiting runnable for a core (what the machine's load adds), and wakeups (voluntary context
switches: each time the thread blocked and was woken again), from the start of epoch 2 to the end of the last epoch
(peers.py's Clock). Threads are named: the main (training) thread, Python threads by their name (ipykernel's iopub,
control, heartbeat; nbtrain's workers; tensorboardX's writer), torch's OpenMP workers (unnamed native threads of the
process), ZeroMQ's own. CPU times of a 2-core machine under load move little with the load (waiting time does), so
this locates a cost where the wall-clock ratio cannot.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/thread_cpu.py [--only "fit(spec)"] [--rounds 1] [--threads default]

Prints, per variant, the median over rounds of each thread group's CPU ms, runnable-wait ms and wakeups, and the
kernel's total; with ``--json`` every round's rows.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402  (the variants and their kernels)

# Installed after peers' COMMON cell: per-thread counters at the Clock's start(1) and end(EPOCHS - 1).
HOOK = '''
import os, re, threading, time
def _tasks():
    out, pid = {}, os.getpid()
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                run, wait, _ = (int(v) for v in f.read().split())
            with open(f"/proc/self/task/{tid}/status") as f:
                st = f.read()
            with open(f"/proc/self/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        vol = int(re.search(r"^voluntary_ctxt_switches:\\s+(\\d+)", st, re.M).group(1))
        tid = int(tid)
        out[tid] = {"name": "main (training)" if tid == pid else names.get(tid, "native: " + comm),
                    "run": run, "wait": wait, "wake": vol}
    return out
_T = {}
_start, _end = Clock.start, Clock.end
_PROF = None
if {profile}:
    import cProfile, pstats, io
    _PROF = cProfile.Profile()
def _s(self, i):
    if i == 1 and "a" not in _T:
        _T["a"] = _tasks()
        if _PROF is not None:
            _PROF.enable()
    _start(self, i)
def _e(self, i):
    _end(self, i)
    if i == EPOCHS - 1:
        _T["b"] = _tasks()
        if _PROF is not None:
            _PROF.disable()
Clock.start, Clock.end = _s, _e
_SINKS = {}
try:                                   # nbtrain's sinks: main-thread CPU per (sink, event) inside the window
    from nbtrain.train.callbacks import CallbackList as _CL
    def _event(self, name, *args):
        hooks = self._hooks.get(name)
        if hooks is None:
            hooks = self._hooks[name] = [c for c in self.callbacks if _overrides(c, name)]
        for c in hooks:
            t = time.thread_time()
            getattr(c, name)(*args)
            if "a" in _T and "b" not in _T:
                k = f"{type(c).__name__}.{name}"
                n, s = _SINKS.get(k, (0, 0.0))
                _SINKS[k] = (n + 1, s + time.thread_time() - t)
    from nbtrain.train.callbacks import _overrides
    _CL._event = _event
except ImportError:
    pass
'''

REPORT = '''
def _delta():
    a, b, rows = _T["a"], _T["b"], {}
    for tid, t in b.items():
        t0 = a.get(tid, {"run": 0, "wait": 0, "wake": 0})
        name = t["name"]
        if name.startswith("native: "):          # torch's OpenMP workers and others: one row per comm
            name = name + (" (new)" if tid not in a else "")
        r = rows.setdefault(name, {"threads": 0, "cpu_ms": 0.0, "wait_ms": 0.0, "wakeups": 0})
        r["threads"] += 1
        r["cpu_ms"] += (t["run"] - t0["run"]) / 1e6
        r["wait_ms"] += (t["wait"] - t0["wait"]) / 1e6
        r["wakeups"] += t["wake"] - t0["wake"]
    return rows
if _PROF is not None:
    _out = io.StringIO()
    pstats.Stats(_PROF, stream=_out).sort_stats("tottime").print_stats(40)
    print(_out.getvalue())
print("THREADS " + json.dumps({"clock": CLOCK.result(), "rows": _delta(),
                                "sinks": {k: {"calls": n, "cpu_ms": 1000 * s} for k, (n, s) in _SINKS.items()}}))
'''


def run(code: str, threads: int, model: str, profile: bool = False, tree: str | None = None) -> dict:
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(peers.COMMON.format(threads=threads, model=model)),
                nbformat.v4.new_code_cell(HOOK.replace("{profile}", str(profile))), nbformat.v4.new_code_cell(code),
                nbformat.v4.new_code_cell(REPORT)]
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(PYTHONPATH=str(tree or peers.ROOT) + os.pathsep + env.get("PYTHONPATH", ""), PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory(prefix="nbtrain-threads-") as cwd:
        NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute(env=env)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o["output_type"] == "stream")
    if profile:
        print(text.split("THREADS ", 1)[0])
    return json.loads(text.split("THREADS ", 1)[1])


def summary(results: list[dict]) -> str:
    names = sorted({n for r in results for n in r["rows"]})
    lines = ["| thread | n | CPU ms | runnable-wait ms | wakeups |", "|---|---:|---:|---:|---:|"]
    tot = [sum(v["cpu_ms"] for v in r["rows"].values()) for r in results]
    for n in sorted(names, key=lambda n: -statistics.median(r["rows"].get(n, {}).get("cpu_ms", 0) for r in results)):
        med = {k: statistics.median(r["rows"].get(n, {}).get(k, 0) for r in results)
               for k in ("threads", "cpu_ms", "wait_ms", "wakeups")}
        lines.append(f"| {n} | {med['threads']:.0f} | {med['cpu_ms']:.0f} | {med['wait_ms']:.0f} | {med['wakeups']:.0f} |")
    wall = statistics.median(r["clock"]["wall_s"] for r in results)
    lines.append(f"| **all threads** | | **{statistics.median(tot):.0f}** | | | (wall {wall:.2f} s, "
                 f"{statistics.median(r['clock']['samples_per_s'] for r in results):.0f} samples/s)")
    sinks = sorted({k for r in results for k in r.get("sinks", {})},
                   key=lambda k: -statistics.median(r.get("sinks", {}).get(k, {}).get("cpu_ms", 0) for r in results))
    if sinks:
        lines += ["", "| sink.event (main thread) | calls | CPU ms |", "|---|---:|---:|"]
        for k in sinks:
            lines.append(f"| {k} | {statistics.median(r['sinks'].get(k, {}).get('calls', 0) for r in results):.0f} | "
                         f"{statistics.median(r['sinks'].get(k, {}).get('cpu_ms', 0) for r in results):.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=["fit(spec)"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", default="default", choices=("default", "1"))
    ap.add_argument("--json")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the training thread's window")
    ap.add_argument("--tree", action="append", default=[],
                    help="an nbtrain checkout the nbtrain variants import (repeat to interleave trees, e.g. a "
                         "worktree of an older commit and this one); default: this checkout")
    args = ap.parse_args(argv)
    chosen = [n for n in peers.VARIANTS if any(w.lower() in n.lower() for w in args.only)]
    names = [n for n in peers.VARIANTS if n in chosen or any(peers.baseline(c) == n for c in chosen)]
    threads = 0 if args.threads == "default" else 1
    trees = args.tree or [None]
    runs = [(n, t) for n in names for t in (trees if peers.VARIANTS[n][0] == "nbtrain" and n not in
                                             (peers.SPEC_PLAIN,) else trees[:1])]
    label = {(n, t): n + (f" @ {t}" if t and len(trees) > 1 else "") for n, t in runs}
    out: dict = {label[k]: [] for k in runs}
    for r in range(args.rounds):
        for n, t in runs[r % len(runs):] + runs[:r % len(runs)]:
            res = run(peers.VARIANTS[n][1], threads, "mlp" if n in peers.MLP else "cnn", args.profile, t)
            out[label[n, t]].append(res)
            print(f"  round {r + 1}: {label[n, t]}: {sum(v['cpu_ms'] for v in res['rows'].values()):.0f} ms CPU, "
                  f"wall {res['clock']['wall_s']:.2f} s", flush=True)
    for n in out:
        print(f"\n### {n}\n\n{summary(out[n])}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
