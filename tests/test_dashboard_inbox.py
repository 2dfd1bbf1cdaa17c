"""A click reaches a busy foreground fit in a real kernel whose front end sends no subshell messages (Colab, VS Code,
the classic Notebook): the test is that front end. It sends the dashboard's comm messages on the shell channel while
the cell runs ``fit``, as those front ends do, and the training thread takes them at its next update (inbox.py)."""
import json
import os
import time

import pytest
from test_dashboard_kernel import ROOT, SETUP, kernel_manager

pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

RUN = SETUP + """
import threading
class Meet(Callback):                   # at step 6 the cell says so and gives the test 1 s to send its clicks
    def on_batch_end(self, state, logs):
        time.sleep(0.02)
        if state.step == 6:
            print("READY", flush=True)
            time.sleep(1.0)
dash = Dashboard(every=0.05)
seen = []
def record(stop=dash.control.stop):
    seen.append([threading.current_thread().name, dash.state.step])
    stop()
dash.control.stop = record
h = nbtrain.fit(model=model(), train=train, val=val, epochs=50, log_every=2, dashboard=dash, callbacks=[Meet()])
print(json.dumps({"stop": h.stop_reason, "last": h.steps[-1]["step"], "seen": seen, "scales": h.lr_scales,
                  "paused_at": dash.control.paused_at, "paused_s": dash.control.paused_seconds()}))
"""


class Front:
    """A kernel client playing a front end without subshells: it runs cells and sends widget clicks."""

    def __init__(self, kc):
        self.kc, self.iopub = kc, []

    def read(self, until, timeout=120):
        """Read iopub messages (kept in ``self.iopub``) until ``until(msg)``; return that message."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                msg = self.kc.get_iopub_msg(timeout=1)
            except Exception:  # queue.Empty: keep waiting
                continue
            self.iopub.append(msg)
            if until(msg):
                return msg
        raise AssertionError("timed out waiting on iopub")

    def dashboard_comm(self) -> str:
        opens = [m["content"] for m in self.iopub if m["msg_type"] == "comm_open"]
        return [c["comm_id"] for c in opens if "key" in c["data"].get("state", {})][-1]

    def click(self, comm_id, **content):
        self.kc.shell_channel.send(self.kc.session.msg(
            "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}}))

    def stdout(self, msg_id) -> str:
        return "".join(m["content"]["text"] for m in self.iopub if m["msg_type"] == "stream"
                       and m["parent_header"].get("msg_id") == msg_id)

    def updates(self, comm_id) -> list:
        return [m["content"]["data"]["content"] for m in self.iopub if m["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == comm_id and m["content"]["data"].get("method") == "custom"]


def idle(msg_id):
    return lambda m: m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" \
        and m["parent_header"].get("msg_id") == msg_id


def said(msg_id, text):
    return lambda m: m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id \
        and text in m["content"]["text"]


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    km = kernel_manager(tmp_path_factory.mktemp("kernels"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    km.start_kernel(env=env, cwd=str(ROOT))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    try:
        yield Front(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _result(front, msg_id) -> dict:
    return json.loads(front.stdout(msg_id).strip().splitlines()[-1])


def test_a_stop_sent_to_a_busy_foreground_fit_stops_it_at_its_next_update(front):
    run = front.kc.execute(RUN)
    front.read(said(run, "READY"))
    comm = front.dashboard_comm()
    front.click(comm, t="stop")                     # waits in the main shell's queue: the cell is running
    after = front.kc.execute("print('after', flush=True)")        # the next cell, queued behind the fit
    front.read(idle(run))
    r = _result(front, run)
    assert r["stop"] == "stopped by you" and r["seen"][0][0] == "MainThread"    # taken by the training thread
    assert 6 <= r["seen"][0][1] <= 8 and r["last"] == r["seen"][0][1]            # within one log interval (2)
    front.read(idle(after))
    assert front.stdout(after) == "after\n"          # the queued cell ran after the fit, untouched
    live = [u for u in front.updates(comm) if u.get("t") == "data" and not u["final"]]
    assert live and all(u["reach"] for u in live)   # the buttons' tooltips do not say "acts once idle"


def test_pause_lr_and_resume_reach_a_busy_foreground_fit_and_a_stop_ends_it(front):
    run = front.kc.execute(RUN)
    front.read(said(run, "READY"))
    comm = front.dashboard_comm()
    front.click(comm, t="lr", value=0.5)
    front.click(comm, t="pause")
    front.read(lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm
               and m["content"]["data"].get("content", {}).get("paused") is True)       # the page hears it is paused
    time.sleep(0.3)
    front.click(comm, t="pause")                    # Resume, taken while the loop is blocked in the pause
    front.read(lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm
               and m["content"]["data"].get("content", {}).get("paused") is False)
    front.click(comm, t="stop")
    front.read(idle(run))
    r = _result(front, run)
    assert r["stop"] == "stopped by you" and r["seen"][0][0] == "MainThread"
    assert r["paused_at"] in (6, 7) and r["paused_s"] >= 0.3 and r["last"] > r["paused_at"]    # it went on
    assert [s for _, s in r["scales"]] == [0.5] and r["scales"][0][0] in (6, 7, 8)   # the slider from the next step
