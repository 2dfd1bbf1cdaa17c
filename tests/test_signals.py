"""Every signal honoured: SIGINT, SIGTERM and SIGHUP sent from another process while a `nbtrain run` is held inside
backward, inside optimizer.step(), in the last epoch's validation, in SWA's update_bn and in SWA's validation (a
file handshake holds the phase open), with a StepLR schedule, bf16 autocast on CPU and early stopping. Each run ends
with the signal's exit status, one line saying how to resume, the run record "interrupted" at the place it stopped,
and the resumed run ends with the uninterrupted run's weights (torch.equal).

Each run is a fork of one server that imported torch, nbtrain and the phase-holding child once
(tools/faultsweep_cases/forks.py: child.py's main(), as `python child.py run ...` runs it, in its own session); the
uninterrupted run of each spec (with and without SWA) runs once for the module, beside the first interrupted run."""
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from test_loop_spec import small_spec

import nbtrain
from nbtrain.spec import LayerSpec, SchedSpec
from tools.faultsweep_cases.forks import Forks

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]), OMP_NUM_THREADS="1")
EPOCHS = 3


def _spec(tmp_path, swa: bool) -> Path:
    spec = small_spec(epochs=EPOCHS, log_every=4, amp="bf16", early_stopping=5, monitor="val_loss")
    spec.model.layers.insert(1, LayerSpec("BatchNorm2d"))
    spec.sched = SchedSpec.from_dict({"type": "StepLR", "step_size": 1, "gamma": 0.5, "swa": swa,
                                      "swa_start": 1})
    path = tmp_path / ("swa.json" if swa else "spec.json")
    spec.save(path)
    return path


def _run(forks, tmp_path, args, env=None, name="run"):
    """A run of the phase-holding child (``env``: PHASE, AT, READY, SENT), a fork of the module's server."""
    return forks.start(["run", *args], tmp_path / f"{name}.log", **(env or {}))


SHARED: dict = {}      # one server and one set of reference runs for this module and test_signal_abort.py


def shared_forks(config) -> Forks:
    """The fork server, started once per pytest process (test_signal_abort.py uses it too), ended with the session."""
    if "forks" not in SHARED:
        server = SHARED["forks"] = Forks(ENV)

        def end():
            SHARED.pop("forks", None)
            server.close()
        config.add_cleanup(end)
    return SHARED["forks"]


@pytest.fixture(scope="module")
def forks(request):
    return shared_forks(request.config)


class Refs:
    """The uninterrupted run of each spec (without and with SWA): started once, on first use, and read once."""

    def __init__(self, forks, tmp: Path):
        self.forks, self.tmp, self.runs, self.specs, self.last = forks, tmp, {}, {}, {}

    def start(self, swa: bool) -> Path:
        if swa not in self.runs:
            self.specs[swa] = spec = _spec(self.tmp, swa)
            self.runs[swa] = _run(self.forks, self.tmp, [spec, "--checkpoint-dir", self.tmp / "ck", "--logdir", "",
                                                         "--run-name", spec.stem], name=spec.stem)
        return self.specs[swa]

    def get(self, swa: bool) -> dict:
        """The uninterrupted run's last.pt, with nbtrain's reader."""
        spec = self.start(swa)
        if swa not in self.last:
            assert self.runs[swa].wait(300) == 0, (self.tmp / f"{spec.stem}.log").read_text()
            self.last[swa] = nbtrain.load_checkpoint(self.tmp / "ck" / spec.stem / "last.pt")
        return self.last[swa]


def shared_refs(forks, tmp_path_factory) -> Refs:
    """The uninterrupted runs, shared like the server: each spec's run once per pytest process."""
    if SHARED.get("refs", (None,))[0] is not forks:
        SHARED["refs"] = (forks, Refs(forks, tmp_path_factory.mktemp("refs")))
    return SHARED["refs"][1]


@pytest.fixture(scope="module")
def refs(forks, tmp_path_factory):
    return shared_refs(forks, tmp_path_factory)


def _weights(p):
    return nbtrain.load_checkpoint(p)["model"]


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _val_batches(spec_path) -> int:
    spec = nbtrain.TrainSpec.load(spec_path)
    return len(nbtrain.build_data(spec.data).val)


CASES = [  # phase, occurrence, signal, where the stop reason says it stopped
    ("backward", 30, signal.SIGINT, "at epoch 2, batch {b} of {n}"),
    ("step", 7, signal.SIGTERM, "at epoch 1, batch 7 of {n}"),
    ("val", None, signal.SIGINT, "at epoch 3, in validation"),
    ("val_pressed_twice", None, signal.SIGINT, "at epoch 3, in validation"),
    ("update_bn", 2, signal.SIGTERM, "at epoch 3, in SWA's update_bn"),
    ("swa_val", 2, signal.SIGHUP, "at epoch 3, in SWA's validation"),
]


@pytest.mark.parametrize("phase,at,sig,where", CASES, ids=[c[0] for c in CASES])
def test_a_signal_inside_a_phase_stops_cleanly_and_resumes_to_the_uninterrupted_weights(tmp_path, forks, refs, phase,
                                                                                         at, sig, where):
    swa = phase.startswith(("update_bn", "swa"))
    spec = _spec(tmp_path, swa)
    refs.start(swa)                                 # beside this run, the first time
    if at is None:                                  # the last epoch's second validation batch
        at = _val_batches(spec) * (EPOCHS - 1) + 2
    ready, sent = tmp_path / "ready", tmp_path / "sent"
    times = 2 if phase.endswith("_pressed_twice") else 1
    phase = phase.replace("_pressed_twice", "")
    cut = _run(forks, tmp_path, [spec, "--checkpoint-dir", tmp_path / "D", "--logdir", tmp_path / "D", "--run-name",
                                 "cut"], env=dict(PHASE=phase, AT=str(at), READY=str(ready), SENT=str(sent)), name="cut")
    t = time.monotonic()
    while not ready.exists():
        assert cut.poll() is None and time.monotonic() - t < 300, (tmp_path / "cut.log").read_text()
        time.sleep(0.02)
    for _ in range(times):          # a second press says it is saving, and stops no sooner and no later
        cut.send_signal(sig)
        time.sleep(0.2)
    sent.touch()
    assert cut.wait(120) == 128 + sig, (tmp_path / "cut.log").read_text()
    out = (tmp_path / "cut.log").read_text()
    run_dir = tmp_path / "D" / "cut"
    resume = run_dir / "interrupted.pt"
    assert f"interrupted: the run ended cleanly; resume it: nbtrain run {spec} --resume {resume} --run-name cut" in out
    record = json.loads((run_dir / "nbtrain-run.json").read_text())
    n = len(nbtrain.build_data(nbtrain.TrainSpec.load(spec).data).train)
    expected = f"interrupted ({signal.Signals(sig).name}) " + where.format(n=n, b=at - n)
    assert record["status"] == "interrupted" and record["stop_reason"] == expected, record
    assert not (run_dir / ".nbtrain-lock").exists()
    again = _run(forks, tmp_path, [spec, "--checkpoint-dir", tmp_path / "D", "--logdir", tmp_path / "D", "--run-name",
                                   "cut", "--resume", resume], name="again")
    assert again.wait(300) == 0, (tmp_path / "again.log").read_text()
    ref = refs.get(swa)
    assert _equal(ref["model"], _weights(run_dir / "last.pt"))
    h_ref, h_cut = ref["history"], nbtrain.load_checkpoint(run_dir / "last.pt")["history"]
    assert h_ref["epochs"] == h_cut["epochs"] and h_ref.get("final") == h_cut.get("final")


def test_an_interrupted_notebook_run_prints_where_it_stopped_and_the_call_that_resumes(tmp_path, monkeypatch, capsys):
    from test_trust_runs import Interrupt

    import nbtrain.sinks.checkpoint as ckpt
    monkeypatch.setattr(ckpt, "in_notebook", lambda: True)
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="nb")
    h = nbtrain.fit(spec, callbacks=[Interrupt(at=5)], progress=False)
    assert h.status == "interrupted"
    n = len(nbtrain.build_data(spec.data).train)
    path = tmp_path / "nb" / "interrupted.pt"
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"nbtrain: interrupted (SIGINT) at epoch 1, batch 6 of {n}; saved {path}; "
        f"resume: nbtrain.fit(spec, resume={str(path)!r})")
