"""Edited checkpoints given to `--resume` (Deliver 4): each must be one clear error that says what differs, and the
file itself must be left as it was."""
from __future__ import annotations

import hashlib
import pickle
import signal
import time

from faultsweep_cases.common import Fail, clear_error, cli, run, start, wait_for
from faultsweep_cases.signals import N


def _edit_epoch(ck, v):
    ck["epoch"] = v


def _drop(key):
    return lambda ck: ck.pop(key)


def _rename_weight(ck):
    k = next(iter(ck["model"]))
    ck["model"][k + "_renamed"] = ck["model"].pop(k)


def _reshape_weight(ck):
    import torch
    k = [k for k in ck["model"] if k.endswith("weight")][-1]
    w = ck["model"][k]
    ck["model"][k] = torch.cat([w, w[:1]])


def _retype_weight(ck):
    k = next(iter(ck["model"]))
    ck["model"][k] = ck["model"][k].double()


def _history_cut(ck):
    import json
    h = json.loads(ck["history"]) if isinstance(ck["history"], str) else ck["history"]
    h["epochs"] = []
    ck["history"] = json.dumps(h) if isinstance(ck["history"], str) else h


EDITS = {   # name -> (edit of epoch_002.pt of the plain reference, the spec resumed with, words the error must say)
    "epoch-minus-1": (lambda ck: _edit_epoch(ck, -1), "plain", ("epoch",)),
    "epoch-as-text": (lambda ck: _edit_epoch(ck, "1"), "plain", ("epoch",)),
    "epoch-99": (lambda ck: _edit_epoch(ck, 99), "plain", ("epoch",)),
    "epoch-float": (lambda ck: _edit_epoch(ck, 1.5), "plain", ("epoch",)),
    "no-model-key": (_drop("model"), "plain", ("model",)),
    "no-optimizer-key": (_drop("optimizer"), "plain", ("optimizer",)),
    "no-epoch-key": (_drop("epoch"), "plain", ("epoch",)),
    "no-history-key": (_drop("history"), "plain", ()),
    "weight-renamed": (_rename_weight, "plain", ()),
    "weight-reshaped": (_reshape_weight, "plain", ()),
    "weight-float64": (_retype_weight, "plain", ()),
    "history-emptied": (_history_cut, "plain", ()),
    "tanh-spec-for-relu-ckpt": (None, "tanh", ("Tanh",)),
    "more-epochs-ckpt-than-spec": ("epochs5", "plain", ("epoch",)),
}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_case(ctx, name: str) -> str:
    import torch
    edit, variant, says = EDITS[name]
    if edit == "epochs5":
        ctx.refs.get("epochs5")
        src = ctx.refs.root / "refs" / "epochs5" / "ref" / "last.pt"
    else:
        ctx.refs.get("plain")
        src = ctx.refs.root / "refs" / "plain" / "ref" / "epoch_002.pt"
    ck = torch.load(src, weights_only=False, map_location="cpu")
    if callable(edit):
        edit(ck)
    path = ctx.dir / "edited.pt"
    torch.save(ck, path)
    return _resume_refused(ctx, path, variant, says, name)


def _resume_refused(ctx, path, variant: str, says: tuple, what: str, extra=()) -> str:
    before = _sha(path)
    rc, out = run(cli(ctx.refs.spec(variant), "--resume", path, "--checkpoint-dir", ctx.dir / "D", "--logdir", "",
                      "--run-name", "e", *extra), ctx.dir, "resume")
    if _sha(path) != before:
        raise Fail(f"DATA LOSS: resuming changed the checkpoint given ({what})")
    if rc == 0 and variant == "plain":     # accepted: then it must go on to the uninterrupted run's numbers
        from faultsweep_cases.common import equal_to_ref, load_all
        equal_to_ref(load_all(ctx.dir / "D" / "e")["last.pt"], ctx.refs.get("plain"), f"the run resumed from {what}")
        return "accepted, and resumed to the uninterrupted run's numbers"
    if rc == 0:
        raise Fail(f"SILENT WRONG: the checkpoint ({what}) was accepted by another spec: exit 0\n{out[-600:]}")
    return clear_error(rc, out, f"a resume from an edited checkpoint ({what})", says)


BYTES = {   # name -> the file's bytes, words the error must say
    "truncated": None,
    "empty-file": b"",
    "random-bytes": bytes(range(256)) * 8,
    "text-file": b"epoch: 2\n",
}


def bytes_case(ctx, name: str) -> str:
    ctx.refs.get("plain")
    src = ctx.refs.root / "refs" / "plain" / "ref" / "epoch_002.pt"
    data = src.read_bytes()[: src.stat().st_size // 2] if name == "truncated" else BYTES[name]
    path = ctx.dir / "broken.pt"
    path.write_bytes(data)
    return _resume_refused(ctx, path, "plain", (), name)


class _Pwn:
    def __reduce__(self):
        return (open, ("PWNED", "w"))


def pickle_case(ctx) -> str:
    """A checkpoint that runs code when unpickled: refused, and the code never runs."""
    path = ctx.dir / "evil.pt"
    path.write_bytes(pickle.dumps({"model": _Pwn(), "epoch": 1}))
    out = _resume_refused(ctx, path, "plain", (), "a malicious pickle")
    if (ctx.dir / "PWNED").exists():
        raise Fail("CODE RAN: the malicious checkpoint's code ran (PWNED written)")
    return out


def batch_size_case(ctx, mid_epoch: bool) -> str:
    """A checkpoint of batch 64 resumed with batch 32: mid-epoch (interrupted.pt) it must be refused, naming it."""
    ctx.refs.get("plain")
    if not mid_epoch:
        path = ctx.refs.root / "refs" / "plain" / "ref" / "epoch_002.pt"
        copy = ctx.dir / "epoch_002.pt"
        copy.write_bytes(path.read_bytes())
        return _resume_refused(ctx, copy, "batch32", ("batch",), "batch 64 at an epoch's end, spec batch 32")
    ready, sent = ctx.dir / "ready", ctx.dir / "sent"
    p = start(cli(ctx.refs.spec("plain"), "--checkpoint-dir", ctx.dir / "C", "--logdir", "", "--run-name", "c"),
              ctx.dir, "cut", PHASE="step", AT=N + 5, READY=ready, SENT=sent)
    wait_for(ready, p)
    p.signal(signal.SIGINT)
    time.sleep(0.2)
    sent.touch()
    if p.wait() != 130:
        raise Fail(f"the run to interrupt ended {p.popen.returncode}:\n{p.out()[-500:]}")
    return _resume_refused(ctx, ctx.dir / "C" / "c" / "interrupted.pt", "batch32", ("batch",),
                           "batch 64 mid-epoch, spec batch 32")
