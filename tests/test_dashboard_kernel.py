"""fit() with the live dashboard inside a real Jupyter kernel (nbclient): what a saved notebook stores and what a
front end receives. The kernel imports this checkout's nbtrain (cwd and PYTHONPATH)."""
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import json, time, torch, nbtrain
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset
from nbtrain.train.callbacks import Callback
from nbtrain.sinks.dashboard import Dashboard
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
y = torch.arange(48) % 3
x = torch.randn(48, 1, 8, 8, generator=g) * 0.5
x[:, :, :4][y == 0] += 1.0; x[:, :, 4:][y == 1] += 1.0; x[:, :, :, :4][y == 2] += 1.0
x = (x - x.mean()) / x.std()
ds = TensorDataset(x, y)
train = DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
val = DataLoader(Subset(ds, range(16)), batch_size=8)
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(96, 3))
def dump(h, **more):
    print(json.dumps({"epochs": h.epochs, "steps": h.steps, "stop": h.stop_reason, **more}))
"""

FAST = """
dash = Dashboard(every=0.05)
class Slow(Callback):                  # a batch takes 30 ms: the dashboard sends several updates per epoch
    def on_batch_end(self, state, logs):
        time.sleep(0.03)
h2 = nbtrain.fit(model=model(), train=train, val=val, epochs=3, log_every=2, dashboard=dash, callbacks=[Slow()])
"""


BACKGROUND = """
import threading
class Meet(Callback):                   # at step 8 the loop waits for the cell below to pause it
    def __init__(self):
        self.reached, self.go = threading.Event(), threading.Event()
    def on_batch_end(self, state, logs):
        if state.step == 8:
            self.reached.set()
            self.go.wait(60)
meet = Meet()
run = nbtrain.fit(model=model(), train=train, val=val, epochs=3, log_every=2, callbacks=[meet], background=True)
print(type(run).__name__, "returned at once")
"""

CONTROL = """
assert meet.reached.wait(60)
run.pause()
meet.go.set()
assert run.control.blocked.wait(60)
paused_at = run.state.step
run.stop()
hb = run.wait(60)
dump(hb, paused_at=paused_at, done=run.done)
"""


class Recorder(nbclient.NotebookClient):
    """Also keeps every widget comm message as the front end received it: custom messages (what the dashboard
    sends while a run is live) and state updates, with their binary buffers."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.custom, self.updates = [], []

    def handle_comm_msg(self, outs, msg, cell_index):
        super().handle_comm_msg(outs, msg, cell_index)
        data = msg["content"].get("data") or {}
        if data.get("method") == "custom":
            self.custom.append((cell_index, data["content"], msg.get("buffers") or []))
        elif data.get("method") == "update":
            self.updates.append((cell_index, data.get("state") or {}, msg.get("buffers") or []))


def kernel_manager(folder):
    """A kernel of this very interpreter, from a kernelspec written to ``folder``: nothing to install, and no
    other 'python3' kernel (a user's, another venv's) can be picked instead."""
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    write_kernel_spec(str(folder / "nbtrain-test"))
    ksm = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    return KernelManager(kernel_name="nbtrain-test", kernel_spec_manager=ksm)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        SETUP,
        "h = nbtrain.fit(model=model(), train=train, val=val, epochs=3, log_every=2)",
        "dump(h)",
        FAST,
        "dump(h2, updates=dash.updates, costs=sorted(dash.costs))",
        BACKGROUND,
        CONTROL,
        "import sys; print(json.dumps([sys.executable, nbtrain.__file__]))")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    km = kernel_manager(tmp_path_factory.mktemp("kernels"))
    client = Recorder(nb, km=km, timeout=300, resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=env)
    return nb, client


def _png(b64_or_bytes):
    import base64

    from PIL import Image
    raw = base64.b64decode(b64_or_bytes) if isinstance(b64_or_bytes, str) else b64_or_bytes
    return np.asarray(Image.open(io.BytesIO(raw)).convert("L"))


def _json_out(cell) -> dict:
    text = "".join(o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def test_the_kernel_runs_this_interpreter_and_imports_this_checkout(executed):
    import sys
    nb, _ = executed
    assert all(o["output_type"] != "error" for c in nb.cells for o in c.outputs)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    executable, package = json.loads(text.strip().splitlines()[-1])
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve() == ROOT / "nbtrain" / "__init__.py"


def test_a_static_png_of_every_panel_stays_in_the_saved_output_beside_the_widget(executed):
    nb, _ = executed
    shown = [o for o in nb.cells[1].outputs if o["output_type"] == "display_data"]
    assert len(shown) == 1                          # one display: the widget's view (kept), the picture, the status
    assert set(shown[0]["data"]) == {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"}
    img = _png(shown[0]["data"]["image/png"])
    assert img.shape[1] == 960 and img.shape[0] > 400 and img.std() > 20               # curves and a row of panels
    assert (img < 128).mean() > 0.01                                                   # lines and text, not a frame


def test_the_status_line_numbers_match_the_history(executed):
    nb, _ = executed
    status = [o for o in nb.cells[1].outputs if o["output_type"] == "display_data"][0]["data"]["text/plain"]
    h = _json_out(nb.cells[2])
    m = re.fullmatch(r"epoch (\d+)/(\d+) · step (\d+)/(\d+) · (\d+) samples/s · ETA 0:00 · "
                     r"best val_loss ([\d.e-]+) \(epoch (\d+)\)", status)
    assert m, status
    vals = [e["val_loss"] for e in h["epochs"]]
    assert int(m[1]) == int(m[2]) == len(h["epochs"]) == 3
    assert int(m[3]) == int(m[4]) == h["epochs"][-1]["step"] == h["steps"][-1]["step"] == 18
    assert int(m[5]) > 0
    assert float(m[6]) == pytest.approx(min(vals), rel=1e-3) and int(m[7]) == int(np.argmin(vals)) + 1


def test_numbers_not_pictures_go_to_the_browser_while_the_run_is_live(executed):
    nb, client = executed
    h2 = _json_out(nb.cells[4])
    live = [c for i, c, bufs in client.custom if i == 3 and c.get("t") == "data"]
    assert len(live) >= 4 and h2["updates"] == len(live)
    steps = []
    for m in live:                                   # only what is new: each part starts where the last ended
        if "steps" in m:
            assert m["steps"][0] == len(steps)
            steps += m["steps"][1]
    assert [r["step"] for r in steps] == [r["step"] for r in h2["steps"]]
    assert [r["loss"] for r in steps] == pytest.approx([r["loss"] for r in h2["steps"]])
    assert len({m["status"] for m in live}) >= 3      # the status line moved between updates
    assert any(m.get("images", {}).get("fmap") for m in live) and any(m.get("images", {}).get("kern") for m in live)
    # no PNG anywhere before the end: not in a custom message, not in a buffer, not in a widget's state
    pngs = [b for i, c, bufs in client.custom if i == 3 for b in bufs if bytes(b[:8]) == b"\x89PNG\r\n\x1a\n"]
    assert pngs == [] and all("iVBORw0KGgo" not in json.dumps(m) for m in live)
    finals = [st for i, st, _ in client.updates if i == 3 and st.get("final")]
    assert len(finals) == 1 and finals[0]["final"] == "ended"                 # the run's end, once (no PNG in it)
    assert len(h2["costs"]) == h2["updates"]        # each update timed (benchmarks/dashboard_overhead.py reports it)


def test_a_background_run_keeps_the_kernel_free_and_stops_within_one_batch(executed):
    nb, _ = executed
    started, control = nb.cells[5], nb.cells[6]
    assert "Run returned at once" in "".join(o.get("text", "") for o in started.outputs)
    hb = _json_out(control)
    assert hb["paused_at"] == 8 and hb["done"] and hb["stop"] == "stopped by you"
    assert len(hb["epochs"]) == 1 and hb["steps"][-1]["step"] == 8       # stopped where it was paused
    shown = [o for o in started.outputs if o["output_type"] == "display_data"]
    assert len(shown) == 1 and "image/png" in shown[0]["data"]          # the dashboard's picture, beside the widget
    assert shown[0]["data"]["text/plain"].startswith("epoch 2/3 · step 8/18")
    assert shown[0]["data"]["text/plain"].endswith("stopped: stopped by you")
