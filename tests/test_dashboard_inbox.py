"""Clicks and updates between a run and its page in a real kernel, the test playing a front end without kernel
subshells (Colab, VS Code, the classic Notebook): it sends the dashboard's comm messages on the shell channel.

- A foreground fit (the cell busy): the training thread takes the clicks at its next update (inbox.py).
- A background fit: its training thread sends nothing; the page's requests are answered from the shell thread
  (delivery.py), so a front end that drops what other threads send (Colab) still gets every update."""
import json
import os
import time

import pytest
from test_dashboard_kernel import ROOT, SETUP, kernel_manager

pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

RUN = SETUP + """
import threading
import os, tempfile
go = os.path.join(tempfile.mkdtemp(), "go")
class Meet(Callback):                   # at step 6 the cell waits until the test has sent its clicks
    def on_batch_end(self, state, logs):
        time.sleep(0.02)
        if state.step == 6:
            print("READY", go, flush=True)
            t = time.monotonic()
            while not os.path.exists(go) and time.monotonic() - t < 60:
                time.sleep(0.01)
            time.sleep(0.2)             # the clicks, sent before the file was made, reach the shell's queue
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

    def read(self, until, timeout=120, since=0):
        """The first iopub message (kept in ``self.iopub``, those from ``since`` on included) where ``until(msg)``."""
        for msg in self.iopub[since:]:
            if until(msg):
                return msg
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

    def click(self, comm_id, **content) -> str:
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def ask(self, comm_id) -> str:
        """What a background run's page sends every ``every`` seconds; reads what comes for 0.1 s."""
        msg_id = self.click(comm_id, t="ask")
        end = time.monotonic() + 0.1
        while time.monotonic() < end:
            try:
                self.iopub.append(self.kc.get_iopub_msg(timeout=0.02))
            except Exception:  # queue.Empty: nothing more for now
                pass
        return msg_id

    def sent(self, run) -> None:
        """Tell the cell waiting at step 6 (Meet) that the clicks are sent."""
        line = self.read(said(run, "READY"))["content"]["text"]
        open(line.split()[1], "w").close()

    def stdout(self, msg_id) -> str:
        return "".join(m["content"]["text"] for m in self.iopub if m["msg_type"] == "stream"
                       and m["parent_header"].get("msg_id") == msg_id)

    def updates(self, comm_id) -> list:
        return [m["content"]["data"]["content"] for m in self.iopub if m["msg_type"] == "comm_msg"
                and m["content"]["comm_id"] == comm_id and m["content"]["data"].get("method") == "custom"]


def update(comm, what):
    """A predicate: a data message of the dashboard ``comm`` for which ``what(content)``."""
    return lambda m: m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm \
        and m["content"]["data"].get("content", {}).get("t") == "data" and what(m["content"]["data"]["content"])


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
    front.sent(run)
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
    front.sent(run)
    paused = front.read(update(comm, lambda u: u.get("paused") is True))      # the page hears it is paused
    time.sleep(0.3)
    mark, step = len(front.iopub), paused["content"]["data"]["content"]["progress"][0]
    front.click(comm, t="pause")                    # Resume, taken while the loop is blocked in the pause
    front.read(update(comm, lambda u: u.get("paused") is False and u["progress"][0] >= step + 2), since=mark)
    front.click(comm, t="stop")
    front.read(idle(run))
    r = _result(front, run)
    assert r["stop"] == "stopped by you" and r["seen"][0][0] == "MainThread"
    assert r["paused_at"] in (6, 7, 8) and r["paused_s"] >= 0.3 and r["last"] > r["paused_at"]    # it went on
    assert [s for _, s in r["scales"]] == [0.5] and r["scales"][0][0] in (6, 7, 8)   # the slider from the next step


BACKGROUND = SETUP + """
import threading
from nbtrain.sinks.dashboard.view import LiveView
senders = []                           # (thread, what) of everything the dashboard's widget sends
def spied(on_message, meta=None):
    view = LiveView(on_message, meta)
    send = view.widget._send
    def spy(msg, buffers=None):
        what = msg.get("content", {}).get("t") if msg["method"] == "custom" else sorted(msg.get("state", {}))
        senders.append([threading.current_thread().name, msg["method"], what])
        send(msg, buffers)
    view.widget._send = spy
    return view
class Slow(Callback):
    def on_batch_end(self, state, logs):
        time.sleep(0.03)
dash = Dashboard(every=0.05, view=spied)
run = nbtrain.fit(model=model(), train=train, val=val, epochs=4, log_every=2, dashboard=dash, callbacks=[Slow()],
                  background=True)
"""


def _from(front, comm, method):
    return [m for m in front.iopub if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm
            and m["content"]["data"].get("method") == method]


def test_a_background_run_reaches_the_page_only_through_answers_from_the_shell_thread(front):
    start = front.kc.execute(BACKGROUND)
    front.read(idle(start))
    comm, asks = front.dashboard_comm(), []
    opened = [m["content"]["data"]["state"] for m in front.iopub if m["msg_type"] == "comm_open"
              and m["content"]["comm_id"] == comm][0]
    assert opened["meta"]["ask"] == 0.05            # the page knows from the start that it asks
    end = time.monotonic() + 60
    while time.monotonic() < end and not any(u.get("final") for u in _states(front, comm)):
        asks.append(front.ask(comm))                # the page: every 0.1 s until the final picture
    done = front.kc.execute("h = run.wait(60); print(json.dumps({'steps': h.steps, 'senders': senders}))")
    front.read(idle(done))
    r = _result(front, done)
    late = front.ask(comm)                          # a page that missed the final picture asks again
    shown = front.read(lambda m: m["msg_type"] == "update_display_data" and m["parent_header"].get("msg_id") == late)
    assert len(shown["content"]["data"]["image/png"]) > 1000
    data = [m for m in _from(front, comm, "custom") if m["content"]["data"]["content"].get("t") == "data"]
    assert len(data) >= 3
    assert {m["parent_header"]["msg_id"] for m in data} <= set(asks)    # each one an answer to the page
    got = []
    for m in data:                                  # the page's curve, rebuilt from the answers alone
        part = m["content"]["data"]["content"].get("steps")
        if part:
            assert part[0] == len(got)
            got += part[1]
    assert len(got) >= 4 and got == r["steps"][:len(got)]
    metas = [m for m in _from(front, comm, "update") if "meta" in m["content"]["data"]["state"]]
    assert metas and metas[-1]["content"]["data"]["state"]["meta"]["total"] == 24
    assert {m["parent_header"]["msg_id"] for m in metas} <= set(asks)
    finals = [m for m in _from(front, comm, "update") if "final" in m["content"]["data"]["state"]]
    assert finals[-1]["parent_header"]["msg_id"] == late and finals[-1]["content"]["data"]["state"]["final"] == "ended"
    off_main = [s for s in r["senders"] if s[0] != "MainThread"]
    assert off_main == [["nbtrain-fit", "update", ["final", "final_status"]]], off_main   # only the first copy
    assert all(s[0] == "MainThread" for s in r["senders"] if s[1] == "custom")


def _states(front, comm) -> list:
    return [m["content"]["data"]["state"] for m in _from(front, comm, "update")]
