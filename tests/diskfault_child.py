"""Run by tests/test_diskfaults.py inside its own mount namespace (``unshare -rm``), where it may mount tmpfs: real
full and read-only disks under a run's logs and checkpoints. Prints one JSON line per case: the error, the seconds
it took, and what the checkpoints on the small disk hold (read back with nbtrain's own reader before the namespace,
and its disks, go away)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]   # tests/, and the checkout's tools/
from test_loop_spec import small_spec  # noqa: E402

import nbtrain  # noqa: E402
from nbtrain.sinks.tensorboard import TensorBoard  # noqa: E402
from nbtrain.train.callbacks import Callback  # noqa: E402
from nbtrain.train.resume import load_checkpoint  # noqa: E402


def mount(path: Path, size: str) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    return path


class ReadOnlyAt(Callback):
    """Remounts ``path`` read-only at the end of epoch ``epoch`` (before the checkpoint sink, which comes last)."""

    def __init__(self, path, epoch):
        self.path, self.epoch = path, epoch

    def on_epoch_end(self, state, logs):
        if state.epoch + 1 == self.epoch:
            subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)


def what_is_there(folder: Path) -> dict:
    out = {}
    for f in sorted(folder.iterdir()) if folder.is_dir() else []:
        if f.suffix == ".pt":
            ck = load_checkpoint(f)
            out[f.name] = {"epoch": ck["epoch"], "status": ck["history"].get("status"),
                           "reason": ck["history"].get("stop_reason")}
        else:
            out[f.name] = None
    return out


def case(name, run, *folders, record=None):
    t = time.monotonic()
    try:
        run()
        error = ""
    except Exception as e:  # noqa: BLE001 - what the user gets is the result
        error = f"{type(e).__name__}: {e}"
    record = json.loads(record.read_text()) if record is not None else {}
    print(json.dumps({"case": name, "error": error, "seconds": time.monotonic() - t,
                      "files": [what_is_there(Path(f)) for f in folders],
                      "record": {k: record.get(k) for k in ("status", "stop_reason")}}), flush=True)


def main(root: Path) -> None:
    torch.set_num_threads(1)
    base = dict(progress=False, doctor=False, run_name="r")
    tb = mount(root / "tb", "24k")      # TensorBoard's writer thread fills it
    case("tensorboard", lambda: nbtrain.fit(small_spec(epochs=8, checkpoint_dir=str(root / "ck1")), **base,
                                            callbacks=[TensorBoard(tb / "r", budget=1)]), root / "ck1" / "r")
    ck = mount(root / "ck2", "100k")    # one checkpoint fits, the second does not
    case("checkpoints full", lambda: nbtrain.fit(small_spec(epochs=6, checkpoint_dir=str(ck),
                                                            logdir=str(root / "logs2")), **base), ck / "r")
    ro = mount(root / "ck3", "1m")
    case("checkpoints read-only", lambda: nbtrain.fit(small_spec(epochs=4, checkpoint_dir=str(ro)), **base,
                                                      callbacks=[ReadOnlyAt(ro, 2)]), ro / "r")
    logs = mount(root / "logs4", "40k")  # the run record's rows or TensorBoard's events fill it, whichever first
    case("logs full", lambda: nbtrain.fit(small_spec(epochs=30, logdir=str(logs), checkpoint_dir=str(root / "ck4")),
                                          **base), root / "ck4" / "r", record=logs / "r" / "nbtrain-run.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
