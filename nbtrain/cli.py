"""Command line: ``nbtrain run | demo | spec | export``; ``run`` also works under torchrun (DDP).

    nbtrain run SPEC.json [--epochs N] [--logdir DIR] [--resume CKPT|auto] [--run-name NAME] [--checkpoint-dir DIR]
                          [--device D] [--processes N [--engine torchrun|ray]]
    nbtrain demo [--epochs N] [--out DIR]
    nbtrain spec                      print the default spec (edit it, then `nbtrain run`)
    nbtrain export SPEC.json          the plain PyTorch script a spec stands for
    nbtrain torchrun --nproc_per_node 2 -m nbtrain run SPEC.json
    nbtrain torchrun --nproc_per_node 2 --max-restarts 3 -m nbtrain run SPEC.json --resume auto --run-name NAME
                                      (a lost worker: every rank goes on from the run's newest checkpoint)
    ``nbtrain torchrun ARGS`` is PyTorch's ``torchrun ARGS`` (the same arguments, run in this process) that ends a
    Ctrl-C or SIGTERM in one line instead of torchrun's SignalException traceback; plain ``torchrun`` works too.

Exit status: 0 done, 1 the run stopped on a non-finite loss (nan/inf) or failed inside torch, 2 bad input (one
``nbtrain: error:`` line saying what, where and how to fix), 130 interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, 129 by
SIGHUP (the run saved where it stopped and the line printed says how to resume it). An unexpected error prints one line
too; NBTRAIN_TRACEBACK=1 prints its traceback.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading
import traceback
from pathlib import Path

from .errors import NbtrainError

# nbtrain.train.interrupts.SIGNALS, named here: that module imports torch, and _quit must be in place before it is
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
TORCHRUN_ENV = "NBTRAIN_TORCHRUN"     # set by ``nbtrain torchrun``: its command up to ``-m nbtrain``, for the workers


def _is_main_rank() -> bool:
    from .env import torchrun_ranks  # here, not at the top: importing torch comes after _quit is in place
    return torchrun_ranks()[0] == 0


def _say(*lines: str) -> None:
    if _is_main_rank():
        print("\n".join(lines), flush=True)


def _metrics_line(h) -> str:
    last = dict(h.epochs[-1]) if h.epochs else {}
    last.update(h.final)
    return ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                     if isinstance(v, float) and not k.startswith("lr")) or "nothing trained"


def _report(spec, h, run_name: str, spec_path: str) -> None:
    ls = spec.loop
    lines = [f"trained {len(h.epochs)} epoch(s): {_metrics_line(h)}"]
    if h.stop_reason:
        lines.append(f"stopped: {h.stop_reason}")
    if ls.logdir:
        lines.append(f"TensorBoard logs: {Path(ls.logdir) / run_name}   (open: tensorboard --logdir {ls.logdir})")
    if ls.checkpoint_dir:
        ck = Path(ls.checkpoint_dir) / run_name
        if h.status == "nan":          # last.pt holds the last finite weights (nbtrain.sinks.checkpoint)
            lines.append(f"checkpoints: {ck}   (the last finite weights; lower the lr before you resume from them)")
        else:
            lines.append(f"checkpoints: {ck}   (resume: nbtrain run {spec_path} --resume {ck / 'last.pt'})")
    _say(*lines)


def _bar():
    """The progress bar without its closing "stopped: ..." line: the CLI reports how the run ended, once."""
    from .sinks.progress import ProgressBar  # imports torch: only once _quit is in place

    class Bar(ProgressBar):
        def on_fit_end(self, state) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None
    return Bar()


def _train(spec, args, spec_path: str = "SPEC.json", overwrite: bool = False) -> int:
    from .train.loop import fit
    if getattr(args, "epochs", None) is not None:
        spec.loop.epochs = args.epochs
    if getattr(args, "logdir", None) is not None:
        spec.loop.logdir = args.logdir
    if getattr(args, "checkpoint_dir", None) is not None:
        spec.loop.checkpoint_dir = args.checkpoint_dir
    if getattr(args, "device", None):
        spec.loop.device = args.device
    if getattr(args, "run_name", None) is not None:
        spec.loop.run_name = args.run_name
    resume = getattr(args, "resume", None)
    if resume == "auto":
        _say_auto(spec.loop)
    many = {k: getattr(args, k) for k in ("processes", "engine") if getattr(args, k, None) is not None}
    if "engine" in many and "processes" not in many:
        raise NbtrainError(f"--engine {many['engine']} needs --processes N (how many workers to start)", "nbtrain run",
                           f"e.g. nbtrain run {spec_path} --processes 2 --engine {many['engine']}")
    try:
        h = fit(spec, resume=resume, dashboard=_bar() if _is_main_rank() else False,
                progress=False, overwrite=overwrite, **many)
    except KeyboardInterrupt as e:     # a third signal: fit() aborted; main() ends it, with the shell's status
        _aborted(spec, e, spec_path)
        raise
    _report(spec, h, h.run_name, spec_path)
    if h.status == "nan":
        _say("nbtrain: the run failed: the loss stopped being a finite number (see 'stopped:' above)")
        return 1
    if h.interrupted:
        return _interrupted(spec, h, spec_path)
    return 0


def _interrupted(spec, h, spec_path: str) -> int:
    """How an interrupted run ended and the command that resumes it; the shell's status for its signal."""
    from .train.interrupts import exit_status, signal_of
    ck = Path(spec.loop.checkpoint_dir) / h.run_name if spec.loop.checkpoint_dir else None
    path = next((ck / n for n in ("interrupted.pt", "last.pt") if ck is not None and (ck / n).is_file()), None)
    if path is None:
        _say("interrupted: the run ended cleanly; no checkpoint was written (give --checkpoint-dir to resume runs)")
    else:
        _say(f"interrupted: the run ended cleanly; resume it: {_resume_command(spec_path)} --resume {path}"
             + (f" --run-name {h.run_name}" if spec.loop.run_name else ""))
    return exit_status(signal_of(h.stop_reason))


def _aborted(spec, e: KeyboardInterrupt, spec_path: str) -> None:
    """After an abort: the command that resumes the run from its newest complete checkpoint (the epoch in progress
    was not saved; the epochs before it were)."""
    from .train.autoresume import newest_checkpoint
    folder = getattr(e, "checkpoint_dir", None)
    if not _is_main_rank():
        return
    path = newest_checkpoint(folder) if folder is not None else None
    named = f" --run-name {e.run_name}" if spec.loop.run_name else ""
    if folder is None:
        _say("interrupted: aborted; no checkpoint was written (give --checkpoint-dir to resume runs)")
    elif path is None:
        _say(f"interrupted: aborted before the first checkpoint; start it again: {_resume_command(spec_path)}"
             + (f" --resume auto{named}" if named else ""))
    else:
        _say(f"interrupted: aborted; resume it: {_resume_command(spec_path)} --resume {path}{named}")


def _say_auto(ls) -> None:
    from .train.autoresume import newest_checkpoint, run_folder
    folder = run_folder(ls)
    if _is_main_rank():
        found = newest_checkpoint(folder)
        _say(f"resuming from {found}" if found is not None else f"no checkpoint in {folder} yet: starting the run")


def _run(args) -> int:
    from .spec.trainspec import TrainSpec
    return _train(TrainSpec.load(args.spec), args, args.spec)


def _demo(args) -> int:
    from .spec.trainspec import TrainSpec
    spec = TrainSpec.default()
    out = Path(args.out)
    _make_dir(out)
    spec.loop.epochs = args.epochs
    spec.loop.logdir = str(out / "runs")
    spec.loop.checkpoint_dir = str(out / "checkpoints")
    spec.loop.run_name = "demo"
    _say(f"nbtrain demo: TrainSpec.default() (a small CNN) on scikit-learn's digits (offline), "
         f"{spec.loop.epochs} epochs, on {os.cpu_count()} CPU core(s) or your GPU")
    spec_path = out / "demo_spec.json"
    spec.save(spec_path)
    code = _train(spec, args, str(spec_path), overwrite=True)      # the demo's run replaces the last demo's
    nb = Path("notebooks")
    books = sorted(p.name for p in nb.glob("*.ipynb")) if nb.is_dir() else []
    _say(f"the spec: {spec_path}   (run it again: nbtrain run {spec_path})",
         "notebooks: jupyter lab notebooks/" + (f"   ({', '.join(books)})" if books else
                                                "   (in the nbtrain repository)"))
    return code


def _make_dir(out: Path) -> None:
    bad = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if bad is not None:
        raise NbtrainError(f"{bad} is a file, not a folder", f"--out {out}", "give the path of a folder; it is created if missing")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NbtrainError(f"cannot create the folder: {e.strerror}", f"--out {out}",
                           "give a folder you can write to") from None


def _spec(args) -> int:
    from .spec.trainspec import TrainSpec
    print(TrainSpec.default().to_json())
    return 0


def _export(args) -> int:
    from .codegen import to_code
    from .spec.trainspec import TrainSpec
    print(to_code(TrainSpec.load(args.spec)), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nbtrain", description="Build, train and watch PyTorch models.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train a spec (JSON); under torchrun with DistributedDataParallel")
    r.add_argument("spec", help="a JSON spec (nbtrain spec > spec.json)")
    r.add_argument("--epochs", type=int, help="override loop.epochs")
    r.add_argument("--logdir", help="override loop.logdir ('' for no TensorBoard)")
    r.add_argument("--checkpoint-dir", dest="checkpoint_dir", help="override loop.checkpoint_dir ('' for none)")
    r.add_argument("--resume", help="a checkpoint to continue from, or 'auto': the newest checkpoint of the run "
                   "named by --run-name (none: start it)")
    r.add_argument("--run-name", dest="run_name", help="override loop.run_name: the run's folder under the logdir "
                   "and checkpoint dir")
    r.add_argument("--device", help="override loop.device (auto, cpu, cuda, mps)")
    r.add_argument("--processes", type=int, help="start N worker processes from here and show rank 0's run "
                   "(fit(processes=N)); not under torchrun")
    r.add_argument("--engine", help="with --processes: torchrun (this machine, the default) or ray (Ray Train "
                   "workers on this machine or the Ray cluster RAY_ADDRESS names; pip install \"nbtrain[ray]\")")
    r.set_defaults(fn=_run)
    d = sub.add_parser("demo", help="train the default model on the offline digits, with TensorBoard and checkpoints")
    d.add_argument("--epochs", type=int, default=3)
    d.add_argument("--out", default="nbtrain-demo", help="folder for logs, checkpoints and the spec")
    d.add_argument("--device", help="auto, cpu, cuda, mps")
    d.set_defaults(fn=_demo)
    sub.add_parser("torchrun", help="torchrun ARGS (PyTorch's launcher, the same arguments) with a one-line ending "
                   "on Ctrl-C or SIGTERM, e.g. nbtrain torchrun --nproc_per_node 2 -m nbtrain run spec.json",
                   add_help=False)               # never parsed here: main() hands everything after it to torchrun
    sub.add_parser("spec", help="print the default spec as JSON").set_defaults(fn=_spec)
    e = sub.add_parser("export", help="print the plain PyTorch script of a spec")
    e.add_argument("spec")
    e.set_defaults(fn=_export)
    return p


def _quit(signum, frame) -> None:
    """Ctrl-C outside training (starting up, reporting): nothing to save, so leave at once and quietly (an
    interrupt inside a half-done import would otherwise end in a traceback). fit() takes over while it trains."""
    print("nbtrain: interrupted", file=sys.stderr, flush=True)
    os._exit(128 + int(signum))


def _quiet_signals() -> dict:
    """Install ``_quit`` for SIGINT, SIGTERM and SIGHUP (in the main thread; elsewhere nothing); the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _quit) for s in _SIGNALS}


def _torchrun(argv: list[str]) -> int:
    """``nbtrain torchrun ARGS``: torchrun in this process (nbtrain.train.agent: Ctrl-C and SIGTERM end in one line).
    Rank 0's resume line names this command: its arguments before ``-m nbtrain`` travel in ``NBTRAIN_TORCHRUN``."""
    old = _quiet_signals()
    from .train.agent import main as agent  # imports torch: a signal meanwhile ends in _quit's one line
    for s, h in old.items():                     # torchrun's own handling from here (nbtrain.train.agent)
        signal.signal(s, h)
    at = next((i for i in range(len(argv) - 1) if argv[i] == "-m" and argv[i + 1] == "nbtrain"), None)
    if at is not None:
        os.environ[TORCHRUN_ENV] = shlex.join(["nbtrain", "torchrun", *argv[:at]])
    sys.argv[0] = "nbtrain torchrun"          # torchrun's usage line names the command typed
    return agent(argv)


def _peer_lost(e: Exception):
    """Under torchrun: a peer rank that ended (gloo's "Connection closed by peer") named, and what to do."""
    if not os.environ.get("TORCHELASTIC_RUN_ID"):
        return None
    from .train.distributed import peer_lost
    return peer_lost(e)


def _resume_command(spec_path: str) -> str:
    """How this run was started, for its resume line: ``nbtrain run SPEC``, or under torchrun the same launcher."""
    if not os.environ.get("TORCHELASTIC_RUN_ID"):
        return f"nbtrain run {spec_path}"
    launcher = os.environ.get(TORCHRUN_ENV) or "torchrun <the same torchrun arguments>"
    return f"{launcher} -m nbtrain run {spec_path}"


def main(argv=None) -> int:
    raw = sys.argv[1:] if argv is None else list(argv)
    if raw[:1] == ["torchrun"]:
        return _torchrun(raw[1:])
    old = _quiet_signals() or None         # before anything imports torch
    try:
        args = parser().parse_args(argv)
        return args.fn(args)
    except NbtrainError as e:
        print(f"nbtrain: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:   # a third signal: fit() aborted (the run record says where)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("nbtrain: interrupted", file=sys.stderr)
        return 128 + int(getattr(e, "signum", signal.SIGINT))
    except Exception as e:  # one line, not a traceback, unless asked for
        lost = _peer_lost(e)
        if lost is not None:
            print(f"nbtrain: error: {lost}", file=sys.stderr)
            return 1
        if os.environ.get("NBTRAIN_TRACEBACK") == "1":
            traceback.print_exc()
        print(f"nbtrain: error: {type(e).__name__}: {e} (NBTRAIN_TRACEBACK=1 shows where)", file=sys.stderr)
        return 1
    finally:
        if old is not None and argv is not None:     # called from Python (tests): give the signals back; as the
            for s, h in old.items():                  # program, keep leaving quietly until the process ends
                signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
