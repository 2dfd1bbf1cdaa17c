"""The torchrun agent of ``fit(spec, processes=N)``: ``python -m nbtrain.train.agent <torchrun arguments>``.

PyTorch's own launcher (torch.distributed.run), with one addition: it watches the kernel that started it
(nbtrain.train.relay.watch_kernel) and, when the kernel is gone, sends itself SIGTERM, on which torchrun stops its workers.
"""
from __future__ import annotations

import os
import signal
import sys

from torch.distributed.run import main as torchrun

from .relay import watch_kernel


def main(argv=None) -> int:
    watch_kernel(lambda: os.kill(os.getpid(), signal.SIGTERM))
    torchrun(sys.argv[1:] if argv is None else argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
