"""Where are we? The one place that detects the environment: notebook or terminal, device, torchrun."""
from __future__ import annotations

import os
import sys

from .errors import NbtrainError


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab); False in a terminal or script."""
    ip = sys.modules.get("IPython")
    if ip is None:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython without a running shell
        return False
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell" and hasattr(shell, "kernel")


def pick_device(name: str = "auto"):
    """'auto' picks cuda, then mps, then cpu; any other name is checked against what this machine has."""
    import torch
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) if is_torchrun() else 0)
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise NbtrainError(f"unknown device {name!r}", "loop.device", "use auto, cpu, cuda, cuda:1 or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise NbtrainError("cuda is not available on this machine", "loop.device", "use device 'auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NbtrainError("mps is not available on this machine", "loop.device", "use device 'auto' or 'cpu'")
    return dev


def is_torchrun() -> bool:
    """True when started by torchrun (it sets RANK, WORLD_SIZE and LOCAL_RANK)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ
