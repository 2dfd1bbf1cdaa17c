"""Every case of the sweep: a name, a category, the function that runs it and its arguments."""
from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Callable

from faultsweep_cases import data, disks, edits, folders, hostile
from faultsweep_cases import signals as sg
from faultsweep_cases.signals import N, V


@dataclass
class Case:
    name: str
    category: str
    fn: Callable
    kw: dict = field(default_factory=dict)
    expect_fail: bool = False          # the harness's own check: this case must be classified FAIL


SIGS = {"int1": (signal.SIGINT, 1), "int2": (signal.SIGINT, 2), "int3": (signal.SIGINT, 3),
        "term": (signal.SIGTERM, 1), "hup": (signal.SIGHUP, 1)}
CATEGORY = {"int1": "sigint-x1", "int2": "sigint-x2", "int3": "sigint-x3", "term": "sigterm", "hup": "sighup"}
PHASES = {   # variant -> (phase name, hold, occurrence) ; "time": seconds after the process started
    "plain": [("first-batch", "step", 1), ("mid-epoch2-backward", "backward", N + 11), ("epoch3-step", "step", 2 * N + 20),
              ("last-val", "val", 2 * V + 2), ("ckpt-write-epoch1", "ckpt_write", 1), ("fit-end", "fit_end", 1),
              ("t0.3s-startup", "time", 0.3), ("t1.5s-startup", "time", 1.5), ("t7s", "time", 7.0)],
    "sched": [("step5", "step", 5), ("epoch2-backward", "backward", N + 3), ("last-val", "val", 2 * V + 2),
              ("ckpt-write-epoch2", "ckpt_write", 3), ("fit-end", "fit_end", 1)],
    "swa": [("update-bn-1", "update_bn", 1), ("update-bn-2", "update_bn", 2), ("swa-val", "swa_val", 2),
            ("fit-end", "fit_end", 1)],
    "es": [("es-epoch-val", "val", V + 2), ("epoch2-step", "step", N + 5)],
    "onecycle": [("epoch2-step", "step", N + 7), ("last-val", "val", 2 * V + 1)],
}
WHICH = {"plain": list(SIGS), "sched": ["int1", "int3", "term", "hup"], "swa": ["int1", "int3", "term", "hup"],
         "es": ["int1", "int2", "term"], "onecycle": ["int1", "term"]}


def signal_cases() -> list:
    out = []
    for variant, phases in PHASES.items():
        for label, hold, at in phases:
            for s in WHICH[variant]:
                sig, presses = SIGS[s]
                out.append(Case(f"{s}-{variant}-{label}", CATEGORY[s], sg.signal_case,
                                dict(variant=variant, phase=hold, at=at, sig=sig, presses=presses)))
    for label, hold, at in [("epoch2-step", "step", N + 5), ("last-val", "val", 2 * V + 2)]:
        for s in ("int1", "int3", "term"):
            sig, presses = SIGS[s]
            out.append(Case(f"fit-{s}-plain-{label}", "fit-script-signal", sg.signal_case,
                            dict(variant="plain", phase=hold, at=at, sig=sig, presses=presses, api="fit")))
    for variant, label, hold, at in [("plain", "step5", "step", 5), ("plain", "epoch2-backward", "backward", N + 11),
                                     ("plain", "ckpt-write-1", "ckpt_write", 1), ("plain", "ckpt-write-3",
                                                                                   "ckpt_write", 4),
                                     ("plain", "last-val", "val", 2 * V + 2), ("plain", "fit-end", "fit_end", 1),
                                     ("sched", "ckpt-write-2", "ckpt_write", 3), ("swa", "update-bn", "update_bn", 1)]:
        out.append(Case(f"kill9-{variant}-{label}", "kill-9-resume", sg.kill9_case,
                        dict(variant=variant, phase=hold, at=at)))
    return out


def fault_cases() -> list:
    out = [Case(f"data-{n}", "bad-data", data.nan_case, dict(name=n)) for n in data.NAN_CASES]
    out += [Case("data-nan-in-val-loader", "bad-data", data.nan_in_val_loader),
            Case("data-nan-in-train-loader", "bad-data", data.nan_in_train_loader)]
    out += [Case(f"data-{k}", "bad-data", data.folder_case, dict(kind=k))
            for k in ("symlink-loop", "empty-folder", "empty-class-folders", "no-images-only-text", "missing-folder",
                      "corrupt-image")]
    out += [Case(f"data-{n}", "bad-data", data.csv_case, dict(name=n)) for n in data.CSV]
    out += [Case(f"model-{n}", "bad-model", data.model_case, dict(name=n)) for n in data.MODELS]
    out.append(Case("model-adam-lr-1000", "bad-model", data.adam_lr_1000))
    out += [Case(f"edit-{n}", "edited-checkpoint", edits.edit_case, dict(name=n)) for n in edits.EDITS]
    out += [Case(f"edit-bytes-{n}", "edited-checkpoint", edits.bytes_case, dict(name=n)) for n in edits.BYTES]
    out += [Case("edit-malicious-pickle", "edited-checkpoint", edits.pickle_case),
            Case("edit-batch-size-epoch-end", "edited-checkpoint", edits.batch_size_case, dict(mid_epoch=False)),
            Case("edit-batch-size-mid-epoch", "edited-checkpoint", edits.batch_size_case, dict(mid_epoch=True))]
    out += [Case(f"spec-{n}", "hostile-spec", hostile.spec_case, dict(name=n)) for n in hostile.SPECS]
    out += [Case(f"export-{f}-{h}", "hostile-export", hostile.export_case, dict(field=f, hostile=h))
            for f in hostile.FIELDS for h in (("docstring", "quote") if f != "data.path" else hostile.H)]
    out += [Case(f"disk-{n}", "disk", disks.disk_case, dict(name=n)) for n in disks.CASES]
    out += [Case(f"folders-same-name-at-once-{'tb' if tb else 'notb'}-{t}", "run-folders", folders.same_name_at_once,
                 dict(tb=tb, trial=t)) for tb in (False, True) for t in range(3)]
    out += [Case(f"folders-two-resumes-at-once-{t}", "run-folders", folders.two_resumes_at_once, dict(trial=t))
            for t in range(2)]
    out += [Case("folders-logdir-eq-ckdir-twice-no-name", "run-folders", folders.one_folder_twice, dict(run_name="")),
            Case("folders-logdir-eq-ckdir-twice-named", "run-folders", folders.one_folder_twice, dict(run_name="n")),
            Case("folders-other-spec-same-name", "run-folders", folders.other_spec_same_name),
            Case("folders-one-background-fit", "run-folders", folders.background_fits, dict(n=1)),
            Case("folders-two-background-fits", "run-folders", folders.background_fits, dict(n=2))]
    return out


SELFTEST = [Case("selftest-benign-spec-said-hostile", "selftest", hostile.benign_spec_said_hostile, expect_fail=True),
            Case("selftest-sleeper-hangs", "selftest", hostile.sleeper, expect_fail=True)]
CASES = signal_cases() + fault_cases() + SELFTEST
