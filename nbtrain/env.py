"""Where are we? The one place that detects the environment: which front end (Colab, VS Code, another Jupyter
front end, a terminal IPython, a script), device, torchrun."""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import sys

import torch

from .errors import NbtrainError


def ipython_shell():
    """The running IPython shell (a Jupyter kernel's or a terminal IPython's), or None in plain Python.

    Read from sys.modules: IPython is never imported here, so a script does not pay for it."""
    ip = sys.modules.get("IPython")
    if ip is None:
        return None
    try:
        return ip.get_ipython()
    except Exception:  # an IPython without a running shell
        return None


def _is_kernel(shell) -> bool:
    return shell is not None and type(shell).__name__ != "TerminalInteractiveShell" and hasattr(shell, "kernel")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab); False in a terminal or script."""
    return _is_kernel(ipython_shell())


def front_end(shell=None) -> str:
    """Where this code runs: "colab", "vscode", "jupyter" (JupyterLab, Notebook, Binder and other Jupyter front
    ends), "ipython" (a terminal IPython) or "script". ``shell``: the IPython shell (default: the running one).

    Colab: its kernel has imported google.colab (or its runtime's COLAB_RELEASE_TAG is set). VS Code: its Jupyter
    extension puts ``__vsc_ipynb_file__`` in a notebook's namespace, and a kernel VS Code started inherits VSCODE_PID
    or VSCODE_CWD (a Jupyter server sets JPY_SESSION_NAME, so a JupyterLab started from VS Code's terminal is not
    taken for VS Code)."""
    shell = shell if shell is not None else ipython_shell()
    if shell is None:
        return "script"
    if not _is_kernel(shell):
        return "ipython"
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "__vsc_ipynb_file__" in (getattr(shell, "user_ns", None) or {}) or \
            (("VSCODE_PID" in os.environ or "VSCODE_CWD" in os.environ) and "JPY_SESSION_NAME" not in os.environ):
        return "vscode"
    return "jupyter"


def pick_device(name: str = "auto"):
    """'auto' picks cuda, then mps, then cpu; any other name is checked against what this machine has."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torchrun_ranks()[2] if is_torchrun() else 0)
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


def torchrun_ranks() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` as torchrun sets them in the environment; ``(0, 1, 0)`` without it. The
    one place nbtrain reads them (the process group, once joined, is asked instead: nbtrain.train.distributed)."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


# glibc's malloc hands blocks above a (dynamic) threshold back to the system when they are freed, and trims
# the heap's free top; a CPU training step frees and reallocates MB-sized activation buffers every time, so
# each step page-faults them in again (10,000-40,000 minor faults an epoch of the default CNN, 10-15% of its
# time, varying with the allocation history). Fixed thresholds keep that memory for reuse.
MMAP_THRESHOLD = 32 << 20        # blocks up to 32 MB from the heap (the most glibc accepts on 64-bit)
TRIM_THRESHOLD = 128 << 20       # the heap keeps up to 128 MB free at its top instead of returning it
_malloc_tuned: bool | None = None


def tune_malloc() -> bool:
    """Once per process, on Linux with glibc: M_MMAP_THRESHOLD 32 MB and M_TRIM_THRESHOLD 128 MB, so that CPU
    training stops page-faulting its activation buffers (memory freed after a run stays with the process for
    the next one). ``NBTRAIN_MALLOC=default`` in the environment leaves malloc alone. Returns whether it is on."""
    global _malloc_tuned
    if _malloc_tuned is None:
        _malloc_tuned = False
        if os.environ.get("NBTRAIN_MALLOC", "") != "default" and sys.platform.startswith("linux"):
            if platform.libc_ver()[0] == "glibc":
                try:
                    libc = ctypes.CDLL("libc.so.6")
                except OSError:                                           # no such libc: leave it
                    return False
                m_trim_threshold, m_mmap_threshold = -1, -3               # malloc.h
                _malloc_tuned = bool(libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and \
                    bool(libc.mallopt(m_trim_threshold, TRIM_THRESHOLD))
    return _malloc_tuned


@contextlib.contextmanager
def one_cpu_thread(when: bool = True):
    """torch's intra-op threads set to one inside (when ``when``), put back after: for ops on tensors too small to
    gain from threads. With torch's pool every small op waits at a barrier for the other threads, which a busy CPU
    (a 2-core notebook) stalls for milliseconds. The fast loader's batches, validation's statistics and the layer
    statistics use it; the model's own compute keeps torch's setting."""
    threads = torch.get_num_threads()
    if not when or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (one we may not signal counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
