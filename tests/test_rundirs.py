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


# Processes started together: one launcher imports claim_run and LoopSpec (which import torch) once and forks N
# children, real processes with pids of their own, held at a pipe until all exist, then released at once. Each calls
# claim_run on the same folders, says what it got in a file of its own; the ones that got a run hold it (as a run
# that trains) until every child has said what it got, so every claim was tried while the others were held.
RACE = """
import json, os, sys, time
from pathlib import Path
from nbtrain.train.rundirs import claim_run
from nbtrain.spec import LoopSpec
top, n = Path(sys.argv[1]), int(sys.argv[2])


def child(name, d, said, go):
    os.read(go, 1)                                           # every child forked: the pipe's writer was closed
    try:
        c = claim_run(LoopSpec(logdir=str(d), checkpoint_dir=str(d / "ck"), run_name=name),
                      clock=lambda f: "same-second")
    except Exception as e:
        (said / str(os.getpid())).write_text(f"ERR {e}")
        return
    (said / str(os.getpid())).write_text(f"OK {c.name}")
    end = time.monotonic() + 120
    while len(list(said.iterdir())) < n and time.monotonic() < end:   # held while the others try
        time.sleep(0.005)
    for f in c.locks:
        (f.parent / "trained").write_text(str(c.name))       # a run leaves files
    c.release()


out = {}
for name in sys.argv[3:]:
    d, said = top / (name or "unnamed") / "runs", top / (name or "unnamed") / "said"
    said.mkdir(parents=True)
    r, w = os.pipe()
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(w)
            try:
                child(name, d, said, r)
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(r)
    os.close(w)                                              # go: every child's read returns at once
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    out[name] = {"said": sorted(f.read_text() for f in said.iterdir()), "pids": len(set(pids)), "codes": codes}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def races(tmp_path_factory):
    """Six processes started together with no run name, then six with the run name 'exp'."""
    top = tmp_path_factory.mktemp("race")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), *sys.path]))
    done = subprocess.run([sys.executable, "-c", RACE, str(top), "6", "", "exp"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    for race in out.values():
        assert race["pids"] == 6 and race["codes"] == [0] * 6 and len(race["said"]) == 6, race
    return {name: (race["said"], top / (name or "unnamed") / "runs") for name, race in out.items()}


def test_processes_started_together_with_no_run_name_each_get_their_own_folder(races):
    out, runs = races[""]
    assert out == sorted(["OK same-second"] + [f"OK same-second-{k}" for k in range(2, 7)]), out
    assert sorted(p.name for p in runs.iterdir()) == sorted(
        ["ck", "same-second"] + [f"same-second-{k}" for k in range(2, 7)])


def test_processes_started_together_with_one_run_name_let_exactly_one_train(races):
    out, runs = races["exp"]
    busy, done = "ERR loop.run_name: the run 'exp' is training now in another process or thread", \
        "ERR loop.run_name: a run named 'exp' exists already"
    assert out[-1] == "OK exp" and all(o.startswith((busy, done)) for o in out[:-1]), out
    assert any(o.startswith(busy) for o in out), out     # some tried while it trained
    assert not (runs / "exp" / LOCK).exists()      # released at the end


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


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A 2-epoch spec's checkpoint after its first epoch, read once for the edits below (each writes its own copy)."""
    import torch
    d = tmp_path_factory.mktemp("edited")
    nbtrain.fit(small_spec(epochs=2, checkpoint_dir=str(d), run_name="r"), epochs=1, progress=False)
    return torch.load(d / "r" / "last.pt", weights_only=True)


@pytest.mark.parametrize("edit,says", [
    (dict(epoch=-1), "epoch -1 (0 to 2)"), (dict(epoch="1"), "epoch '1' (0 to 2)"), (dict(step=-5), "step -5 (0 or more)"),
    (dict(partial={"batches": 999}), "partial batches 999 (0 to ")])
def test_an_edited_checkpoint_is_one_clear_error(tmp_path, one_epoch, edit, says):
    import torch
    spec = small_spec(epochs=2, checkpoint_dir=str(tmp_path), run_name="r")
    ck = {**one_epoch, **edit}
    torch.save(ck, tmp_path / "edited.pt")
    with pytest.raises(NbtrainError) as e:
        nbtrain.fit(spec, resume=tmp_path / "edited.pt", progress=False)
    assert str(e.value).startswith(f"{tmp_path / 'edited.pt'}: the checkpoint's progress is out of this run's range: "
                                   f"{says}"), str(e.value)
