"""A fork server for the fault tests: imports nbtrain's CLI once, then runs each `nbtrain run` in a forked child.

A `python -m nbtrain run` process spends seconds importing torch, torchvision and nbtrain before it trains; the
fault tests start 25 of them. Here each is a fork of one process that has imported all that (and run nothing, so
no thread pool is copied), running ``nbtrain.cli.main()`` with ``sys.argv`` set, as ``python -m nbtrain`` does:
the same SIGINT handlers, the same exit statuses, its own session (for kill -9 of its group).

Protocol, one line each way: the test writes ``[argv, log]`` as JSON; the server answers the child's pid, then,
when it ends, its exit status (negative: killed by that signal). The child's stdout and stderr go to ``log``.
"""
import json
import os
import sys
import traceback

import sklearn.datasets  # noqa: F401 - what the children's iris would import, once here
import tqdm.auto  # noqa: F401 - the progress bar's, as above

import nbtrain.cli
import nbtrain.train.loop  # noqa: F401 - as above


def _child(argv: list, log: str) -> None:
    rc = 1
    try:
        os.setsid()
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = ["nbtrain", *argv]
        rc = nbtrain.cli.main()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # shown, so the test sees the traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(rc)


def serve() -> None:
    for line in sys.stdin:
        argv, log = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(argv, log)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


if __name__ == "__main__":
    serve()
