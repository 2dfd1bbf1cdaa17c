"""Fixtures for real-browser tests: JupyterLab (and TensorBoard) on 127.0.0.1, driven in Debian's chromium.

The browser is /usr/bin/chromium from apt (never `playwright install`: browser downloads are blocked). .ci/run
installs it when missing and sets NBTRAIN_REQUIRE_BROWSER=1: then nothing here skips (a missing browser, a missing
package, a module-level importorskip in a test file) — each becomes a failure. NBTRAIN_SKIP_BROWSER=1 is the one
explicit opt-out: every browser test is skipped, saying so.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "docs" / "screenshots"
# no "would you like news?" pop-up, no update checks
OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


REQUIRED = "(NBTRAIN_REQUIRE_BROWSER=1: CI installed the browser, so this must run)"


def spied_slow_fit(spec: str) -> str:
    """Kernel-side cell text: ``nb.fit(<spec>)`` for 40 epochs with the live dashboard, slowed to ~20 batches a second
    (long enough to click, short enough to wait for), its Stop handler spied. The cell prints, as JSON, the step,
    the thread and the wall-clock time (``time.time()``) the click arrived at (``got``), the final step, the run's
    total steps, its stop reason, the time fit returned (``ended``) and its ``[step, loss]`` log points and
    ``[step, val_loss]`` epoch rows. Needs ``json, threading, time``, ``nbtrain as nb`` and ``Dashboard`` imported."""
    return f"""class Slow(nb.Callback):
    def on_batch_end(self, state, logs):
        time.sleep(0.05)
dash, got = Dashboard(), {{}}
real_stop = dash.control.stop
def stop():                        # the Stop button's handler: where and when the click arrived
    got.update(step=dash.state.step, thread=threading.current_thread().name, at=time.time())
    real_stop()
dash.control.stop = stop
{spec}.loop.epochs = 40
h = nb.fit({spec}, dashboard=dash, callbacks=[Slow()])
print(json.dumps({{"got": got, "final": dash.state.step, "total": 40 * dash.state.steps_per_epoch,
                  "reason": h.stop_reason, "ended": time.time(), "loss": [[r["step"], r["loss"]] for r in h.steps],
                  "val_loss": [[r["step"], r["val_loss"]] for r in h.epochs]}}))"""


def _required() -> bool:
    return os.environ.get("NBTRAIN_REQUIRE_BROWSER") == "1" and os.environ.get("NBTRAIN_SKIP_BROWSER") != "1"


def _in_browser_dir(path) -> bool:
    """Whether a path (an item's file, a report's node id) is a module of this folder."""
    p = str(path).replace(os.sep, "/").split("::")[0]
    return "browser/" in p and (Path(__file__).parent / Path(p).name).is_file()


def pytest_collection_modifyitems(items):
    for item in items:
        if _in_browser_dir(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
            if os.environ.get("NBTRAIN_SKIP_BROWSER") == "1":
                item.add_marker(pytest.mark.skip(reason="NBTRAIN_SKIP_BROWSER=1: browser tests opted out"))


@pytest.hookimpl(wrapper=True)
def pytest_collectreport(report):
    """A browser test module skipped while collected (a module-level importorskip) fails when it must run; a
    wrapper, so the session counts the failure (its own hook runs before any plain conftest hook)."""
    if _required() and report.skipped and _in_browser_dir(report.nodeid):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{report.nodeid}: {reason} {REQUIRED}"
    return (yield)


def _missing(reason: str):
    if _required():
        pytest.fail(f"{reason} {REQUIRED}")
    pytest.skip(reason)


def require_import(name: str, minversion: str | None = None):
    """pytest.importorskip, which fails instead of skipping when NBTRAIN_REQUIRE_BROWSER=1."""
    try:
        return pytest.importorskip(name, minversion=minversion)
    except pytest.skip.Exception as e:
        _missing(str(e))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def server_env() -> dict:
    """The checkout's nbtrain first on the path; the inline matplotlib backend, not the tests' Agg."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])   # as in an activated venv
    return env


class Lab:
    """A running JupyterLab (or Notebook 7): ``url(path)`` for a page, ``root`` the folder it serves."""

    def __init__(self, port: int, token: str, root: Path):
        self.port, self.token, self.root = port, token, root

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        _missing(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does this)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def _jupyter(tmp_path_factory, name: str, module: str, app: str, overrides: dict = OVERRIDES):
    """Start ``python -m <module>`` (a JupyterLab-based front end whose application class is ``app``) on
    127.0.0.1 with a token and its own settings dirs (``overrides``: the settings' defaults), serving a temporary
    folder with a copy of notebooks/; yield a ``Lab`` for it, stop it after."""
    base = tmp_path_factory.mktemp(name)
    root = base / "root"
    shutil.copytree(ROOT / "notebooks", root)
    settings = base / "settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(overrides))
    port, token = free_port(), secrets.token_hex(16)
    log = base / f"{name}.log"
    cmd = [sys.executable, "-m", module, "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", f"--{app}.app_settings_dir={settings}",
           f"--{app}.user_settings_dir={base / 'user-settings'}", f"--{app}.workspaces_dir={base / 'workspaces'}",
           "--ServerApp.port_retries=0"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=server_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield Lab(port, token, root)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a temporary folder with a copy of notebooks/."""
    require_import("jupyterlab")
    yield from _jupyter(tmp_path_factory, "lab", "jupyterlab", "LabApp")


@pytest.fixture(scope="session")
def notebook7(tmp_path_factory):
    """Notebook 7 (``python -m notebook``) on 127.0.0.1 with a token, serving a copy of notebooks/ like ``lab``;
    open a notebook at ``notebook7.url("notebooks/<name>.ipynb")``."""
    require_import("notebook", minversion="7")
    yield from _jupyter(tmp_path_factory, "notebook7", "notebook", "JupyterNotebookApp")


@pytest.fixture
def tensorboard_server(tmp_path):
    """``start(logdir) -> url``: TensorBoard on 127.0.0.1 over a log directory."""
    procs = []

    def start(logdir) -> str:
        port = free_port()
        log = tmp_path / f"tensorboard-{port}.log"
        cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
               "--port", str(port), "--reload_interval", "1"]
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, env=server_env(), stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/data/logdir", proc, log)
        return f"http://127.0.0.1:{port}/"

    yield start
    for p in procs:
        stop(p)


def cell_output(page, i: int):
    """The output area of the ``i``-th code cell of the notebook shown (JupyterLab or Notebook 7)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(i).locator(".jp-Cell-outputArea")


def loaded_png(page, img, min_width=300, min_height=100) -> None:
    """Wait until the <img> ``img`` (a locator) has loaded a picture larger than the sizes given."""
    page.wait_for_function("([el, w, h]) => el.complete && el.naturalWidth > w && el.naturalHeight > h",
                           arg=[img.element_handle(), min_width, min_height])


class Notebook:
    """Drives one JupyterLab page: open a notebook, run all cells from the Run menu, wait for the kernel."""

    def __init__(self, page, lab: Lab):
        self.page, self.lab = page, lab

    def open(self, name: str) -> None:
        self.page.goto(self.lab.url(f"lab/tree/{name}?reset"))
        self.page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
        self.wait_idle()

    def kernel_status(self) -> str:
        return self.page.locator("#jp-main-statusbar").inner_text()

    def wait_idle(self, timeout: float = 120_000) -> None:
        """The status bar names the Python kernel and says '| Idle', and no cell shows the '[*]' of a queued or
        running cell (right after the page loads it reads 'No Kernel | Idle' for a moment: a run then is lost)."""
        self.page.wait_for_function(
            """() => {
                const bar = document.querySelector('#jp-main-statusbar');
                if (!bar || !bar.innerText.includes('| Idle') || !/Python/i.test(bar.innerText)) return false;
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputArea-prompt')];
                return !prompts.some(p => p.innerText.includes('*'));
            }""", timeout=timeout)

    def run_all(self, timeout: float = 180_000) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        # every code cell gets an execution count; then the kernel goes idle
        self.page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.innerText));
            }""", timeout=timeout)
        self.wait_idle(timeout)

    def errors(self) -> list[str]:
        """Tracebacks shown in output areas."""
        return self.page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                 has_text="Traceback").all_inner_texts()


@pytest.fixture
def notebook(page, lab):
    return Notebook(page, lab)


def copy_puts_the_shown_code_on_the_clipboard(page, scope) -> None:
    """Click the Workbench's Copy (after Show code) inside ``scope``: the clipboard then holds the script shown, and
    a Download link for train.py sits beside it. The browser context needs clipboard permissions."""
    copy = scope.locator("button.nbtrain-copy")
    copy.wait_for()
    shown = scope.locator("pre", has_text="def evaluate(model, loader, eval_step, update, device):").first.inner_text()
    copy.click()
    page.wait_for_function("() => navigator.clipboard.readText().then(t => t.length > 0)")
    clip = page.evaluate("() => navigator.clipboard.readText()")
    assert clip.startswith('"""Generated') and clip.strip() == shown.strip()
    assert scope.locator("a.nbtrain-download[download='train.py']").count() == 1
