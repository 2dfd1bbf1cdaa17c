"""env.front_end: where the code runs, from what each front end leaves in the process (faked here the same way)."""
import types

import pytest

from nbtrain import env


class KernelShell:
    """A Jupyter kernel's shell as env sees it: it has a kernel and a user namespace."""
    kernel = object()

    def __init__(self, **user_ns):
        self.user_ns = user_ns


class TerminalInteractiveShell:
    """A terminal IPython (env reads its class name)."""


@pytest.fixture(autouse=True)
def plain_jupyter(monkeypatch):
    for name in ("COLAB_RELEASE_TAG", "VSCODE_PID", "VSCODE_CWD", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)


def test_a_script_a_terminal_ipython_and_a_jupyter_kernel():
    assert env.front_end() == "script"                      # pytest: IPython has no running shell
    assert env.front_end(TerminalInteractiveShell()) == "ipython"
    assert env.front_end(KernelShell()) == "jupyter"


def test_colab_by_its_module_or_its_runtime_variable(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "google.colab", types.ModuleType("google.colab"))
    assert env.front_end(KernelShell()) == "colab"
    monkeypatch.delitem(__import__("sys").modules, "google.colab")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-20261201-060000-RC00")
    assert env.front_end(KernelShell()) == "colab"


def test_vscode_by_its_notebook_variable_or_its_environment(monkeypatch):
    assert env.front_end(KernelShell(__vsc_ipynb_file__="/home/u/a.ipynb")) == "vscode"
    monkeypatch.setenv("VSCODE_PID", "4242")
    assert env.front_end(KernelShell()) == "vscode"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/u/a.ipynb")   # JupyterLab started from VS Code's terminal
    assert env.front_end(KernelShell()) == "jupyter"
    assert env.front_end(TerminalInteractiveShell()) == "ipython"
