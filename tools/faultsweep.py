"""The fault sweep of issue 24: ~200 hostile inputs and faults, each run in fresh processes with a timeout, each
outcome classified against what the issue's Deliver items 1-5 require.

    PYTHONPATH=$PWD nice -n 19 python tools/faultsweep.py [--only PATTERN] [--jobs N] [--list] [--out DIR]
    python tools/faultsweep.py --merge A/report.json,B/report.json [--out DIR]    (several partial sweeps as one)

PASS is one of: (a) one clear NbtrainError (exit 2, one `nbtrain: error:` line with where and the fix, no traceback;
from a script, an NbtrainError whose text says what the case expects), or (b) a run that ended and, resumed with
`--resume auto`, ends with the uninterrupted run's numbers (torch.equal on every weight, the same epoch logs), its
record "interrupted" / "finished" / "error" as it should be and every checkpoint loadable. Anything else is a FAIL
with its evidence: a hang (no exit within the timeout), a traceback, data loss (a saved epoch gone, a checkpoint that
does not load), a record left "running", a signal dropped, a silently different result.

Prints one line per case, a table per category, and writes DIR/report.json (default: a new folder under /tmp).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faultsweep_cases.common import Ctx, Fail, Refs  # noqa: E402
from faultsweep_cases.registry import CASES  # noqa: E402

PRINT = threading.Lock()


def run_case(case, root: Path, refs: Refs, keep: bool) -> dict:
    ctx = Ctx(root / "cases" / case.name, refs)
    ctx.dir.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    try:
        result, detail = "PASS", case.fn(ctx, **case.kw)
    except Fail as e:
        result, detail = "FAIL", str(e)
    except Exception:  # noqa: BLE001 - a harness error is reported, never hidden
        result, detail = "FAIL", "HARNESS ERROR (the case itself broke):\n" + traceback.format_exc(limit=6)
    if result == "PASS" and case.expect_fail:
        result, detail = "FAIL", f"expected to fail, but passed: {detail}"
    row = {"case": case.name, "category": case.category, "result": result, "seconds": round(time.monotonic() - t, 1),
           "detail": detail, "notes": ctx.notes, "folder": str(ctx.dir)}
    if result == "PASS" and not keep:
        shutil.rmtree(ctx.dir, ignore_errors=True)
    with PRINT:
        first = detail.splitlines()[0] if detail else ""
        print(f"{result} {case.name} ({row['seconds']} s): {first[:200]}", flush=True)
    return row


def table(rows: list) -> str:
    cats: dict = {}
    for r in rows:
        c = cats.setdefault(r["category"], [0, 0, 0])
        c[0] += 1
        c[1 if r["result"] == "PASS" else 2] += 1
    lines = [f"{'category':<22} {'cases':>5} {'passed':>6} {'failed':>6}"]
    for name, (n, ok, bad) in sorted(cats.items()):
        lines.append(f"{name:<22} {n:>5} {ok:>6} {bad:>6}")
    n, ok = len(rows), sum(r["result"] == "PASS" for r in rows)
    lines.append(f"{'total':<22} {n:>5} {ok:>6} {n - ok:>6}")
    return "\n".join(lines)


def select(only: str | None, cases=None) -> list:
    cases = CASES if cases is None else cases
    if not only:
        return [c for c in cases if not c.expect_fail]
    pats = [p if any(ch in p for ch in "*?[") else f"*{p}*" for p in only.split(",")]
    return [c for c in cases if any(fnmatch.fnmatch(c.name, p) or fnmatch.fnmatch(c.category, p) for p in pats)]


def default_signals() -> None:
    """The runs under test start with the usual signal dispositions even when the sweep was started with `&` or
    nohup (which ignore SIGINT / SIGHUP, and every child would inherit that: a Ctrl-C while a run starts would be
    dropped by the shell's doing, not nbtrain's)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for s in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)


def sweep(cases: list, out: Path, jobs: int = 1, keep: bool = False) -> list:
    default_signals()
    out.mkdir(parents=True, exist_ok=True)
    refs = Refs(out)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        rows = list(pool.map(lambda c: run_case(c, out, refs, keep), cases))
    (out / "report.json").write_text(json.dumps({"cases": len(rows), "failed": sum(r["result"] != "PASS"
                                                                                    for r in rows), "rows": rows},
                                                indent=1))
    return rows


def merge(paths: list, out: Path | None) -> int:
    rows: dict = {}
    for p in paths:
        for r in json.loads(Path(p).read_text())["rows"]:
            rows[r["case"]] = r
    return summary(list(rows.values()), out)


def summary(rows: list, out: Path | None) -> int:
    print("\n" + table(rows))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps({"cases": len(rows), "failed": sum(r["result"] != "PASS"
                                                                                        for r in rows), "rows": rows},
                                                    indent=1))
        print(f"report: {out / 'report.json'}")
    for r in rows:
        if r["result"] != "PASS":
            print(f"\nFAIL {r['case']} ({r['folder']}):\n{r['detail']}")
    return 0 if all(r["result"] == "PASS" for r in rows) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated name or category patterns (substring, or fnmatch with * ?)")
    ap.add_argument("--jobs", type=int, default=1, help="cases at once (default 1)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--out", help="folder for the cases' files and report.json (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the folders of passed cases too")
    ap.add_argument("--merge", help="comma-separated report.json files: print them as one sweep (a later report's "
                                    "row replaces an earlier one of the same case) and write it to --out")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.merge.split(","), Path(args.out) if args.out else None)
    cases = select(args.only)
    if args.list:
        for c in cases:
            print(f"{c.category:<22} {c.name}")
        print(f"{len(cases)} cases")
        return 0
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="faultsweep-"))
    t = time.monotonic()
    rows = sweep(cases, out, args.jobs, args.keep)
    print(f"{len(rows)} cases in {time.monotonic() - t:.0f} s")
    return summary(rows, out)


if __name__ == "__main__":
    sys.exit(main())
