"""`nbtrain torchrun ARGS`: PyTorch's torchrun in nbtrain's process, so a terminal's Ctrl-C or a scheduler's SIGTERM
ends in one line with the shell's status (130, 143), not torchrun's SignalException traceback. The workers here are
`sleep` (torchrun's --no-python): only the launcher is under test, a few seconds each; the Ctrl-C of a real two-rank
run and its resume line are in tests/test_elastic.py."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.serial      # starts torchrun and signals its process group: alone (tests/conftest.py)


SIGNALS = {"SIGINT": 130, "SIGTERM": 143}


@pytest.fixture(scope="module")
def agents():
    """One `nbtrain torchrun` with a `sleep` worker per signal, all started at once (their start-ups overlap), each in
    a session of its own: a test signals only the group it was given. Any left at the end (a failed test) is killed."""
    procs = {name: subprocess.Popen([sys.executable, "-m", "nbtrain", "torchrun", "--standalone", "--nproc_per_node",
                                     "1", "--no-python", "sleep", "120"], cwd=ROOT,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True) for name in SIGNALS}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_to_the_terminals_group_ends_nbtrain_torchrun_in_one_line(agents, name):
    sig, code, proc = getattr(signal, name), SIGNALS[name], agents[name]
    agent, end = psutil.Process(proc.pid), time.monotonic() + 120
    while not any(p.name() == "sleep" for p in agent.children(recursive=True)):   # torchrun's handler is set
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "SignalException" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("nbtrain")]
    assert lines == [f"nbtrain: torchrun stopped by {sig.name}; its workers have ended"], err


def test_the_workers_resume_line_names_the_launcher(monkeypatch):
    from nbtrain import cli
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert cli._resume_command("s.json") == "nbtrain run s.json"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    monkeypatch.delenv(cli.TORCHRUN_ENV, raising=False)
    assert cli._resume_command("s.json") == "torchrun <the same torchrun arguments> -m nbtrain run s.json"
    monkeypatch.setenv(cli.TORCHRUN_ENV, "nbtrain torchrun --nproc_per_node 2")
    assert cli._resume_command("s.json") == "nbtrain torchrun --nproc_per_node 2 -m nbtrain run s.json"
