"""A third signal aborts a `nbtrain run` at once, and the run record still ends: never "running".

Real signals from this process to a child held inside a phase (tools/faultsweep_cases/child.py): three presses inside
optimizer.step() (the epoch in progress is lost, the last completed epoch's checkpoint stays, the record says
"interrupted" and where), three SIGTERMs while the checkpoint sink writes last.pt after the last epoch (the finished
run keeps its record's "finished" and its last epoch's checkpoint), one press there (the run ends as finished, last.pt
written). Each run then ends, after `--resume auto` where needed, with the uninterrupted run's weights (torch.equal).
Each run is a fork of one server that imported nbtrain and the child once (tools/faultsweep_cases/forks.py), the
server and the uninterrupted run test_signals.py's where both modules run in one process.
"""
import json
import signal
import time

import pytest
from test_signals import EPOCHS, _equal, _run, shared_forks, shared_refs

import nbtrain
from nbtrain.train.insight import history_of

CASES = [  # phase, occurrence (None: the second batch of epoch 2), signal, presses, exit status, record status, reason
    ("step", None, signal.SIGINT, 3, 130, "interrupted",
     "aborted (SIGINT) at epoch 2, batch 1 of {n}: the epoch in progress was not saved"),
    ("fit_end", 1, signal.SIGTERM, 3, 143, "finished", ""),
    ("fit_end", 1, signal.SIGINT, 1, 0, "finished", ""),
]


@pytest.fixture(scope="module")
def forks(request):
    return shared_forks(request.config)


@pytest.fixture(scope="module")
def refs(forks, tmp_path_factory):
    return shared_refs(forks, tmp_path_factory)


@pytest.mark.parametrize("phase,at,sig,presses,rc,status,reason", CASES,
                         ids=["3x-in-step", "3x-in-fit-end", "1x-in-fit-end"])
def test_an_aborted_run_ends_its_record_and_keeps_the_last_epoch(tmp_path, forks, refs, phase, at, sig, presses, rc,
                                                                  status, reason):
    spec = refs.start(swa=False)
    n = len(nbtrain.build_data(nbtrain.TrainSpec.load(spec).data).train)
    ready, sent, run_dir = tmp_path / "ready", tmp_path / "sent", tmp_path / "D" / "cut"
    args = [spec, "--checkpoint-dir", tmp_path / "D", "--logdir", tmp_path / "D", "--run-name", "cut"]
    cut = _run(forks, tmp_path, args, env=dict(PHASE=phase, AT=str(at or n + 2), READY=str(ready), SENT=str(sent)),
               name="cut")
    t = time.monotonic()
    while not ready.exists():
        assert cut.poll() is None and time.monotonic() - t < 300, (tmp_path / "cut.log").read_text()
        time.sleep(0.02)
    for _ in range(presses):
        cut.send_signal(sig)
        time.sleep(0.2)
    sent.touch()
    out = (tmp_path / "cut.log").read_text
    assert cut.wait(120) == rc, out()
    record = json.loads((run_dir / "nbtrain-run.json").read_text())
    assert (record["status"], record["stop_reason"]) == (status, reason.format(n=n)), record
    done = 1 if phase == "step" else EPOCHS
    assert record["epochs_done"] == done and len(history_of(run_dir).epochs) == done
    assert not (run_dir / ".nbtrain-lock").exists() and not (run_dir / "interrupted.pt").exists()
    assert (run_dir / f"epoch_{done:03d}.pt").exists()
    if presses == 3:
        assert out().endswith(f"interrupted: aborted; resume it: nbtrain run {spec} --resume "
                              f"{run_dir / f'epoch_{done:03d}.pt'} --run-name cut\nnbtrain: interrupted\n"), out()
        assert not (run_dir / "last.pt").exists()
        again = _run(forks, tmp_path, [*args, "--resume", "auto"], name="again")
        assert again.wait(300) == 0, (tmp_path / "again.log").read_text()
        assert f"resuming from {run_dir / f'epoch_{done:03d}.pt'}" in (tmp_path / "again.log").read_text()
    got, ref = nbtrain.load_checkpoint(run_dir / "last.pt"), refs.get(swa=False)
    assert _equal(ref["model"], got["model"]) and got["history"]["epochs"] == ref["history"]["epochs"]
