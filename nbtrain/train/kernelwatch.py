"""No worker outlives the notebook that started it: ``watch_kernel`` is the thread a worker and the torchrun agent of
``fit(spec, processes=N)`` run to follow the kernel's process (``NBTRAIN_KERNEL_PID``).

It imports no torch and nothing of nbtrain's training code, so the agent (``python -m nbtrain.train.agent``), which
needs only torchrun, does not load torchvision and the layer catalog for it.
"""
from __future__ import annotations

import os
import threading
import time

from ..env import pid_alive

KERNEL_PID = "NBTRAIN_KERNEL_PID"   # the kernel that started the workers: when it is gone, so are they


def watch_kernel(on_gone, every: float = 0.5) -> threading.Thread | None:
    """A daemon thread that calls ``on_gone()`` once the process ``NBTRAIN_KERNEL_PID`` names has ended (a kernel
    restarted, killed or crashed), so no agent or worker outlives the notebook that started it."""
    pid = int(os.environ.get(KERNEL_PID, "0") or 0)
    if pid <= 0:
        return None

    def watch():
        while pid_alive(pid):
            time.sleep(every)
        on_gone()
    t = threading.Thread(target=watch, name="nbtrain-kernel-watch", daemon=True)
    t.start()
    return t
