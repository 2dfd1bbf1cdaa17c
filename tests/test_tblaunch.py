import os
import socket
import subprocess
import sys

import pytest

from nbtrain.review.tblaunch import free_port, tensorboard


class FakeShell:
    """Records each magic with the TENSORBOARD_BINARY it would see."""
    def __init__(self):
        self.calls, self.binary = [], []

    def run_line_magic(self, name, line):
        self.calls.append((name, line))
        self.binary.append(os.environ.get("TENSORBOARD_BINARY"))


@pytest.fixture(autouse=True)
def no_tensorboard_binary(monkeypatch):
    """Each test starts without TENSORBOARD_BINARY, and what tensorboard() sets is undone after it."""
    monkeypatch.setenv("TENSORBOARD_BINARY", "")       # recorded, so the delenv below is undone too
    monkeypatch.delenv("TENSORBOARD_BINARY")


def _venv(tmp_path, monkeypatch, script=True):
    """A kernel's view of a venv that is not activated: sys.executable in venv/bin, PATH without it."""
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    if script:
        (bindir / "tensorboard").write_text("#!/bin/sh\n")
        (bindir / "tensorboard").chmod(0o755)
    return bindir


def test_outside_ipython_prints_the_command(capsys):
    cmd = tensorboard("runs/my run", port=6123)
    assert cmd == "tensorboard --logdir 'runs/my run' --port 6123"
    assert capsys.readouterr().out == ("TensorBoard: run `tensorboard --logdir 'runs/my run' --port 6123` in a "
                                       "terminal, then open http://localhost:6123/\n")


def test_in_ipython_loads_the_extension_and_uses_a_fresh_free_port():
    shell = FakeShell()
    cmd = tensorboard("runs", shell=shell)
    (ext, ext_arg), (magic, line) = shell.calls
    assert (ext, ext_arg, magic) == ("load_ext", "tensorboard", "tensorboard")
    port = int(line.rsplit(" ", 1)[1])
    assert line == f"--logdir runs --port {port}" and cmd == f"tensorboard {line}" and port != 6006
    with socket.socket() as s:                     # the port was free (nothing took it meanwhile)
        s.bind(("127.0.0.1", port))


def test_free_port_is_bindable():
    p = free_port()
    assert 1024 < p < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))


def test_nbtrain_tensorboard_is_public(capsys):
    import nbtrain
    assert nbtrain.tensorboard is tensorboard


def test_missing_tensorboard_is_one_clear_error(monkeypatch):
    import sys

    import pytest

    from nbtrain.errors import NbtrainError
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    shell = FakeShell()
    with pytest.raises(NbtrainError) as e:
        tensorboard("runs", shell=shell)
    assert str(e.value) == ("nbtrain.tensorboard: TensorBoard is not installed "
                            "(pip install 'nbtrain[tensorboard]', or pip install tensorboard)")
    assert shell.calls == []


def test_without_tensorboard_on_path_the_magic_gets_the_script_beside_the_interpreter(tmp_path, monkeypatch):
    bindir = _venv(tmp_path, monkeypatch)
    shell = FakeShell()
    tensorboard("runs", shell=shell)
    want = str(bindir / "tensorboard")
    assert shell.binary == [want, want]            # set before the extension loads
    assert os.environ["TENSORBOARD_BINARY"] == want


def test_tensorboard_on_path_is_used_as_is(tmp_path, monkeypatch):
    _venv(tmp_path, monkeypatch)
    onpath = tmp_path / "empty"
    onpath.mkdir()
    (onpath / "tensorboard").write_text("#!/bin/sh\n")
    (onpath / "tensorboard").chmod(0o755)
    shell = FakeShell()
    tensorboard("runs", shell=shell)
    assert shell.binary == [None, None] and "TENSORBOARD_BINARY" not in os.environ


def test_an_explicit_tensorboard_binary_is_kept(tmp_path, monkeypatch):
    _venv(tmp_path, monkeypatch)
    monkeypatch.setenv("TENSORBOARD_BINARY", "/opt/tb/bin/tensorboard")
    shell = FakeShell()
    tensorboard("runs", shell=shell)
    assert shell.binary == ["/opt/tb/bin/tensorboard"] * 2


def test_no_script_beside_the_interpreter_leaves_the_magic_to_report_it(tmp_path, monkeypatch):
    _venv(tmp_path, monkeypatch, script=False)
    shell = FakeShell()
    tensorboard("runs", shell=shell)
    assert shell.binary == [None, None] and len(shell.calls) == 2


def test_the_script_found_for_this_interpreter_is_a_working_tensorboard(tmp_path, monkeypatch):
    """With this venv's real python and PATH emptied, the script handed over runs (no server: --version_tb)."""
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    tensorboard("runs", shell=FakeShell())
    binary = os.environ.get("TENSORBOARD_BINARY")
    assert binary == os.path.join(os.path.dirname(sys.executable), "tensorboard")
    import tensorboard as tb
    out = subprocess.run([binary, "--version_tb"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": ""})
    assert out.returncode == 0 and out.stdout.strip() == tb.__version__, out.stderr[-2000:]


class KernelShell(FakeShell):
    """A Jupyter kernel's shell (env.front_end reads its kernel and namespace)."""
    kernel = object()
    user_ns: dict = {}


@pytest.fixture
def plain_env(monkeypatch, tmp_path):
    for name in ("COLAB_RELEASE_TAG", "VSCODE_PID", "VSCODE_CWD", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_on_colab_the_magics_run_and_it_says_the_folder_and_how_to_download_it(plain_env, monkeypatch, capsys):
    import types
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    shell = KernelShell()
    cmd = tensorboard("runs", port=6123, shell=shell)
    assert shell.calls == [("load_ext", "tensorboard"), ("tensorboard", "--logdir runs --port 6123")]
    assert cmd == "tensorboard --logdir runs --port 6123"
    assert capsys.readouterr().out == (
        f"TensorBoard for {plain_env / 'runs'}, through Colab's proxy below. If the frame stays blank (a browser "
        "that blocks third-party cookies), download the logs: `!zip -qr runs.zip runs`, then `from google.colab "
        "import files; files.download(\"runs.zip\")`, and run `tensorboard --logdir runs` on your machine after "
        "unzipping.\n")


def test_in_vscode_it_says_how_to_open_tensorboard_there_and_starts_nothing(plain_env, monkeypatch, capsys):
    monkeypatch.setenv("VSCODE_PID", "4242")
    shell = KernelShell()
    cmd = tensorboard("runs/a b", port=6123, shell=shell)
    assert shell.calls == [] and cmd == "tensorboard --logdir 'runs/a b' --port 6123"
    assert capsys.readouterr().out == (
        f"TensorBoard for {plain_env / 'runs' / 'a b'}: VS Code shows no TensorBoard frame in a notebook. Open the "
        "Command Palette (Ctrl+Shift+P / Cmd+Shift+P), run \"Python: Launch TensorBoard\" (\"Launch TensorBoard "
        "Session\" in older versions) and choose that folder; or run `tensorboard --logdir 'runs/a b' --port 6123` "
        "in a terminal and open http://localhost:6123/.\n")


def test_in_jupyterlab_only_the_magics_show_it(plain_env, capsys):
    shell = KernelShell()
    tensorboard("runs", port=6123, shell=shell)
    assert len(shell.calls) == 2 and capsys.readouterr().out == ""
