"""``nbtrain.tensorboard(logdir)``: TensorBoard next to the notebook, on a port of its own.

In IPython it loads TensorBoard's notebook extension and runs ``%tensorboard --logdir ... --port P`` with a free
port P, so it never shows a stale instance that the magic would otherwise reuse on 6006. Outside IPython it
prints the command to run instead.
"""
from __future__ import annotations

import shlex
import socket
import sys


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _shell():
    ip = sys.modules.get("IPython")
    return ip.get_ipython() if ip is not None else None


def tensorboard(logdir: str = "runs", port: int | None = None, shell=None) -> str:
    """Show TensorBoard for ``logdir``; returns the command line it stands for.

    ``shell`` is the IPython shell (default: the running one, if any).
    """
    port = port or free_port()
    args = f"--logdir {shlex.quote(str(logdir))} --port {port}"
    shell = shell if shell is not None else _shell()
    if shell is None:
        print(f"TensorBoard: run `tensorboard {args}` in a terminal, then open http://localhost:{port}/")
        return f"tensorboard {args}"
    try:
        import tensorboard  # noqa: F401 - the notebook extension lives in the tensorboard package
    except ImportError:
        from .errors import NbtrainError
        raise NbtrainError("TensorBoard is not installed", "nbtrain.tensorboard", "pip install tensorboard") from None
    shell.run_line_magic("load_ext", "tensorboard")
    shell.run_line_magic("tensorboard", args)
    return f"tensorboard {args}"
