"""Two checkouts of nbtrain on peers.py's workloads, in the same rounds: is one slower than the other?

Each round runs, each in a fresh Jupyter kernel and in an order that rotates from round to round, every chosen
variant's plain loop once and the variant twice: importing nbtrain from this checkout ("this") and from the other
one ("other", e.g. a worktree at an older commit). Both trees' ratios to the plain loop divide by the SAME plain
run of the round, so the machine's drift between rounds (20-30% here within minutes) cancels from their
comparison; the figure is the median over the rounds of this/other (the two nbtrain runs of a round), beside each
tree's median paired ratio to its plain loop and the quartiles of the rounds.

    PYTHONPATH=. .venv/bin/python benchmarks/ab_trees.py /work/wt/before --rounds 7 --threads default \
        --only "+ TensorBoard" tensors "fit(spec)" [--json out.json]

The variants' code is this checkout's benchmarks/peers.py: the other tree must have the API it calls.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402


def quartiles(xs: list[float]) -> str:
    if len(xs) < 4:
        return " / ".join(f"{x:.2f}" for x in xs)
    q = statistics.quantiles(xs, n=4)
    return f"{q[0]:.2f}-{q[2]:.2f}"


def measure(other: Path, names: list[str], rounds: int, threads: int) -> list[dict]:
    """Per round: {(name, tree): samples/s} for the plain loops ("plain") and each variant in both trees."""
    runs = [(peers.baseline(n), "plain") for n in names]
    runs = list(dict.fromkeys(runs + [(n, t) for n in names for t in ("this", "other")]))
    out = []
    for r in range(rounds):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        got = {}
        for name, tree in order:
            t = time.perf_counter()
            root = other if tree == "other" else peers.ROOT
            res = peers.run_in_kernel(peers.VARIANTS[name][1], threads, model="mlp" if name in peers.MLP else "cnn",
                                      root=root)
            got[f"{tree}|{name}"] = res["samples_per_s"]
            print(f"  round {r + 1}/{rounds} {tree:5s} {name}: {res['samples_per_s']:.0f} samples/s "
                  f"(load {os.getloadavg()[0]:.1f}, {time.perf_counter() - t:.0f} s)", flush=True)
        out.append(got)
    return out


def table(rounds: list[dict], names: list[str]) -> str:
    lines = ["| variant | this / other, per round: median (quartiles) | this vs its plain loop | "
             "other vs its plain loop |", "|---|---|---|---|"]
    for n in names:
        plain = [r[f"plain|{peers.baseline(n)}"] for r in rounds]
        this = [r[f"this|{n}"] for r in rounds]
        other = [r[f"other|{n}"] for r in rounds]
        ab = [a / b for a, b in zip(this, other)]
        rt, ro = [a / p for a, p in zip(this, plain)], [b / p for b, p in zip(other, plain)]
        lines.append(f"| {n} | **{statistics.median(ab):.3f}** ({quartiles(ab)}) | {statistics.median(rt):.2f} "
                     f"({quartiles(rt)}) | {statistics.median(ro):.2f} ({quartiles(ro)}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("other", type=Path, help="the other checkout (its folder holds the nbtrain package)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="default", choices=("default", "1"))
    ap.add_argument("--only", nargs="*", default=["+ TensorBoard", "tensors", "fit(spec)"],
                    help="nbtrain variants of peers.py whose name contains any of these words")
    ap.add_argument("--json", help="also write every round's figures to this file")
    args = ap.parse_args(argv)
    if not (args.other / "nbtrain" / "__init__.py").is_file():
        ap.error(f"{args.other}: no nbtrain package there (give the folder of another checkout)")
    names = [n for n in peers.VARIANTS if n != peers.baseline(n) and peers.VARIANTS[n][0] == "nbtrain"
             and any(w.lower() in n.lower() for w in args.only)]
    threads = 0 if args.threads == "default" else 1
    print(f"this: {peers.ROOT}; other: {args.other.resolve()}; {len(names)} variant(s) x {args.rounds} round(s), "
          f"torch threads {args.threads}", flush=True)
    rounds = measure(args.other.resolve(), names, args.rounds, threads)
    print("\n" + table(rounds, names) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
