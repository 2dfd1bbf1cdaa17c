"""Every run its own folder, every time: one folder for logs and checkpoints, same names from many processes."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from test_loop_spec import small_spec

import nbtrain
from nbtrain.cli import main
from nbtrain.errors import NbtrainError
from nbtrain.spec import LoopSpec
from nbtrain.train.rundirs import LOCK, claim_run


def test_one_folder_for_logs_and_checkpoints_runs_twice_in_a_row_and_resumes(tmp_path, capsys):
    path, d = tmp_path / "spec.json", tmp_path / "D"
    small_spec(epochs=1).save(path)
    for _ in range(2):
        assert main(["run", str(path), "--logdir", str(d), "--checkpoint-dir", str(d)]) == 0
    runs = sorted(p for p in d.iterdir())
    assert len(runs) == 2 and runs[1].name in (runs[0].name + "-2", ) or runs[0].name != runs[1].name
    for r in runs:        # the layout: events, the run record and the checkpoints side by side, no lock left
        names = {p.name for p in r.iterdir()}
        assert {"last.pt", "best.pt", "epoch_001.pt", "nbtrain-run.json"} <= names and LOCK not in names
        assert any(n.startswith("events.out.tfevents") for n in names)
        assert json.loads((r / "nbtrain-run.json").read_text())["status"] == "finished"
    capsys.readouterr()
    assert main(["run", str(path), "--epochs", "2", "--logdir", str(d), "--checkpoint-dir", str(d),
                 "--resume", str(runs[0] / "last.pt")]) == 0
    third = sorted(set(d.iterdir()) - set(runs))
    assert len(third) == 1
    ck = nbtrain.load_checkpoint(third[0] / "last.pt")
    assert ck["epoch"] == 2 and [e["epoch"] for e in ck["history"]["epochs"]] == [1, 2]


CLAIM = """
import sys, time
from pathlib import Path
from nbtrain.train.rundirs import claim_run
from nbtrain.spec import LoopSpec
go, name, d, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
import os
Path(go + f".ready-{os.getpid()}").touch()
while not Path(go).exists():
    time.sleep(0.005)
try:
    c = claim_run(LoopSpec(logdir=d, checkpoint_dir=d + "/ck", run_name=name), clock=lambda f: "same-second")
    print("OK", c.name, flush=True)
    time.sleep(hold)
    for f in c.locks:
        (f.parent / "trained").write_text(str(c.name))   # a run leaves files
    c.release()
except Exception as e:
    print("ERR", e, flush=True)
"""


def _race(tmp_path, name: str, n: int = 6, hold: float = 3.0) -> list[str]:
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    procs = [subprocess.Popen([sys.executable, "-c", CLAIM, str(go), name, str(tmp_path / "runs"), str(hold)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    while len(list(tmp_path.glob("go.ready-*"))) < n:      # every process imported and waiting on the file
        time.sleep(0.05)
    go.touch()
    return sorted(p.communicate(timeout=300)[0].strip() for p in procs)


def test_processes_started_together_with_no_run_name_each_get_their_own_folder(tmp_path):
    out = _race(tmp_path, "")
    assert out == sorted(["OK same-second"] + [f"OK same-second-{k}" for k in range(2, 7)]), out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        ["ck", "same-second"] + [f"same-second-{k}" for k in range(2, 7)])


def test_processes_started_together_with_one_run_name_let_exactly_one_train(tmp_path):
    out = _race(tmp_path, "exp")
    busy, done = "ERR loop.run_name: the run 'exp' is training now in another process or thread", \
        "ERR loop.run_name: a run named 'exp' exists already"
    assert out[-1] == "OK exp" and all(o.startswith((busy, done)) for o in out[:-1]), out
    assert any(o.startswith(busy) for o in out), out     # some tried while it trained
    assert not (tmp_path / "runs" / "exp" / LOCK).exists()      # released at the end


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    d = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ls = LoopSpec(logdir=str(d), checkpoint_dir="", run_name="exp")
    (d / "exp" / LOCK).mkdir(parents=True)
    (d / "exp" / LOCK / "owner").write_text(f"{os.uname().nodename} {p.pid}")
    with pytest.raises(NbtrainError, match="is training now in another process"):
        claim_run(ls, resume=True)
    p.kill(), p.wait()
    c = claim_run(ls, resume=True)
    assert (d / "exp" / LOCK / "owner").read_text().split()[1] == str(os.getpid())
    c.release()
    assert not (d / "exp" / LOCK).exists()


def test_two_resumes_of_one_named_run_at_once_are_one_run_and_one_clear_error(tmp_path):
    spec = small_spec(epochs=1, checkpoint_dir=str(tmp_path), logdir=str(tmp_path), run_name="r")
    nbtrain.fit(spec, progress=False)
    spec.loop.epochs = 3
    hold, results = threading.Event(), {}

    class Hold(nbtrain.Callback):
        def on_epoch_start(self, state):
            hold.wait(60)

    run = nbtrain.fit(spec, resume=tmp_path / "r" / "last.pt", background=True, callbacks=[Hold()], progress=False)
    while not (tmp_path / "r" / LOCK).exists():
        time.sleep(0.01)
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=tmp_path / "r" / "last.pt", progress=False)
    lock = tmp_path / "r" / LOCK
    assert str(e.value) == (f"loop.run_name: the run 'r' is training now in another process or thread "
                            f"({tmp_path / 'r'}, process {os.getpid()} on {socket.gethostname()}) (wait for it to "
                            f"end, or choose another run_name; if that process is gone (on another machine), "
                            f"remove {lock})")
    hold.set()
    results["h"] = run.wait(120)
    assert results["h"].status == "finished" and len(results["h"].epochs) == 3
    assert not (tmp_path / "r" / LOCK).exists()


def test_a_refused_resume_leaves_the_run_folder_free(tmp_path):
    spec = small_spec(epochs=1, checkpoint_dir=str(tmp_path), run_name="r")
    nbtrain.fit(spec, progress=False)
    spec.optim.type = "SGD"
    with pytest.raises(NbtrainError, match="the checkpoint's optimizer is Adam, this run's is SGD"):
        nbtrain.fit(spec, resume=tmp_path / "r" / "last.pt", progress=False)
    assert not (tmp_path / "r" / LOCK).exists()
    spec.optim.type = "Adam"
    assert nbtrain.fit(spec, epochs=2, resume=tmp_path / "r" / "last.pt", progress=False).status == "finished"


@pytest.mark.parametrize("edit,says", [
    (dict(epoch=-1), "epoch -1 (0 to 2)"), (dict(epoch="1"), "epoch '1' (0 to 2)"), (dict(step=-5), "step -5 (0 or more)"),
    (dict(partial={"batches": 999}), "partial batches 999 (0 to ")])
def test_an_edited_checkpoint_is_one_clear_error(tmp_path, edit, says):
    import torch
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="r")
    nbtrain.fit(spec, epochs=1, progress=False)
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    ck.update(edit)
    torch.save(ck, tmp_path / "edited.pt")
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=tmp_path / "edited.pt", progress=False)
    assert str(e.value).startswith(f"{tmp_path / 'edited.pt'}: the checkpoint's progress is out of this run's range: "
                                   f"{says}"), str(e.value)
