"""The torchrun agent of ``fit(spec, processes=N)``: ``python -m nbtrain.train.agent <torchrun arguments>``.

PyTorch's own launcher (torch.distributed.run), with two additions: it watches the kernel that started it
(nbtrain.train.relay.watch_kernel) and, when the kernel is gone, sends itself SIGTERM, on which torchrun stops its
workers; and a signal that stops it (Ctrl-C, SIGTERM) ends in one line instead of torchrun's SignalException
traceback (its workers are stopped by then: torchrun passes the signal on and waits for them).
"""
from __future__ import annotations

import os
import signal
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.run import main as torchrun

from .relay import watch_kernel


def main(argv=None) -> int:
    watch_kernel(lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        torchrun(sys.argv[1:] if argv is None else argv)
    except SignalException as e:
        print(f"nbtrain: torchrun stopped by {e.sigval.name}; its workers have ended", file=sys.stderr, flush=True)
        return 128 + int(e.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
