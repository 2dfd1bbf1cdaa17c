"""``nbtrain.tensorboard(logdir)``: TensorBoard next to the notebook, on a port of its own.

In IPython it loads TensorBoard's notebook extension and runs ``%tensorboard --logdir ... --port P`` with a free
port P, so it never shows a stale instance that the magic would otherwise reuse on 6006. Outside IPython it
prints the command to run instead. Where the user is (env.front_end):

- Colab: the same two magics, which there show TensorBoard through Colab's own proxy; it also says which folder
  it shows and how to download the logs when the frame stays blank (a browser that blocks third-party cookies).
- VS Code: its notebooks show no TensorBoard frame (the magic's iframe stays empty); it says how to open
  TensorBoard there instead (the "Python: Launch TensorBoard" command) and on which folder, and starts nothing.

The magic starts the ``tensorboard`` command found on PATH. A kernel started from a venv's python without
activating the venv (the usual Jupyter case) has no such command on PATH, so when it is missing, the
``tensorboard`` script next to ``sys.executable`` is handed to the magic through TENSORBOARD_BINARY.
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import sys

from ..env import front_end, ipython_shell
from ..errors import NbtrainError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _point_at_this_interpreters_tensorboard() -> None:
    """Set TENSORBOARD_BINARY to the script beside sys.executable when PATH has no ``tensorboard``.

    An explicit TENSORBOARD_BINARY is left alone; with neither, the magic reports its own error.
    """
    if os.environ.get("TENSORBOARD_BINARY") or shutil.which("tensorboard"):
        return
    bindir = os.path.dirname(sys.executable)       # not resolved: a venv's python is a link out of the venv
    for name in ("tensorboard", "tensorboard.exe"):
        script = os.path.join(bindir, name)
        if os.path.isfile(script) and os.access(script, os.X_OK):
            os.environ["TENSORBOARD_BINARY"] = script
            return


def tensorboard(logdir: str = "runs", port: int | None = None, shell=None) -> str:
    """Show TensorBoard for ``logdir``; returns the command line it stands for.

    ``shell`` is the IPython shell (default: the running one, if any).
    """
    port = port or free_port()
    args = f"--logdir {shlex.quote(str(logdir))} --port {port}"
    shell = shell if shell is not None else ipython_shell()
    where = front_end(shell)
    if where in ("script", "vscode"):
        print(_vscode_help(logdir, args, port) if where == "vscode" else
              f"TensorBoard: run `tensorboard {args}` in a terminal, then open http://localhost:{port}/")
        return f"tensorboard {args}"
    try:
        import tensorboard  # noqa: F401 - tensorboard (an extra): the viewer and its notebook extension
    except ImportError:
        raise NbtrainError("TensorBoard is not installed", "nbtrain.tensorboard",
                           "pip install 'nbtrain[tensorboard]', or pip install tensorboard") from None
    _point_at_this_interpreters_tensorboard()
    if where == "colab":
        print(_colab_help(logdir))
    shell.run_line_magic("load_ext", "tensorboard")
    shell.run_line_magic("tensorboard", args)
    return f"tensorboard {args}"


def _vscode_help(logdir, args: str, port: int) -> str:
    folder = os.path.abspath(logdir)
    return (f"TensorBoard for {folder}: VS Code shows no TensorBoard frame in a notebook. Open the Command Palette "
            f"(Ctrl+Shift+P / Cmd+Shift+P), run \"Python: Launch TensorBoard\" (\"Launch TensorBoard Session\" in "
            f"older versions) and choose that folder; or run `tensorboard {args}` in a terminal and open "
            f"http://localhost:{port}/.")


def _colab_help(logdir) -> str:
    folder, name = os.path.abspath(logdir), os.path.basename(os.path.abspath(logdir)) or "runs"
    return (f"TensorBoard for {folder}, through Colab's proxy below. If the frame stays blank (a browser that "
            f"blocks third-party cookies), download the logs: `!zip -qr {name}.zip {shlex.quote(str(logdir))}`, then "
            f"`from google.colab import files; files.download(\"{name}.zip\")`, and run "
            f"`tensorboard --logdir {name}` on your machine after unzipping.")
