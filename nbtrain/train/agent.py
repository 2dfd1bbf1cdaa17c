"""The torchrun agent of ``fit(spec, processes=N)``: ``python -m nbtrain.train.agent <torchrun arguments>``.

PyTorch's own launcher (torch.distributed.run), with two additions: it watches the kernel that started it
(nbtrain.train.kernelwatch.watch_kernel) and, when the kernel is gone, sends itself SIGTERM, on which torchrun stops its
workers; a signal that stops it (Ctrl-C, SIGTERM) ends in one line instead of torchrun's SignalException
traceback, and failed workers end in torchrun's report without its ChildFailedError traceback (its workers are stopped by then: torchrun passes the signal on and waits for them). From a terminal:
``nbtrain torchrun <torchrun arguments>`` (nbtrain.cli).

Plain ``torchrun`` cannot be given that ending from nbtrain's side: the traceback is printed by torchrun's own process
(torch.distributed.run's ``main`` lets SignalException out), which imports no nbtrain code; only the workers do.
"""
from __future__ import annotations

import os
import signal
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main as torchrun

from .kernelwatch import watch_kernel


def _ended(sig: signal.Signals) -> int:
    print(f"nbtrain: torchrun stopped by {sig.name}; its workers have ended", file=sys.stderr, flush=True)
    return 128 + int(sig)


def main(argv=None) -> int:
    watch_kernel(lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        torchrun(sys.argv[1:] if argv is None else argv)
    except SignalException as e:          # torchrun's handler while its workers run: it stopped them first
        return _ended(e.sigval)
    except KeyboardInterrupt:             # Ctrl-C before torchrun's handler (rendezvous): no worker started yet
        return _ended(signal.SIGINT)
    except ChildFailedError as e:         # torchrun's report of the failed workers, without its own traceback
        print(e, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
