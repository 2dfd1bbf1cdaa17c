"""A progress bar per epoch with tqdm.auto: a notebook bar in Jupyter, text in a terminal. Its numbers are the run
record's (nbtrain.train.history), read with a cursor: the newest log-point and epoch rows since its last read.

Redrawn at most every ``mininterval`` seconds (tqdm decides; nothing per step): in a notebook each redraw is a few
widget messages, so 0.5 s keeps it to a few a second, the live dashboard's budget. On CUDA the postfix also shows
the GPU memory (``gpu`` allocated / peak / total GiB), read at log points only.
"""
from __future__ import annotations

from ..train.callbacks import Callback
from ..train.history import record_of
from .memory import cuda_memory


def _fmt(logs: dict) -> dict:
    return {k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float) and k not in ("epoch", "step")}


def gpu_postfix(device) -> dict:
    """``{"gpu": "1.2/3.0/79G"}`` (allocated / peak / total GiB) on CUDA, else {}."""
    mem = cuda_memory(device)
    if not mem:
        return {}
    return {"gpu": f"{mem['allocated'] / 2**30:.1f}/{mem['peak'] / 2**30:.1f}/{mem['total'] / 2**30:.0f}G"}


class ProgressBar(Callback):
    """A reader of the run record: at each log point and epoch end it takes the record's rows added since its last
    read (a cursor per list, as the dashboard's Feed), and shows the newest; at the end, the record's stop reason.
    Only the bar's position follows the State (the batch, which the record does not keep).
    ``file`` and ``tqdm_class`` are injectable (tests write to a StringIO with plain tqdm)."""

    def __init__(self, file=None, tqdm_class=None, mininterval: float = 0.5):
        if tqdm_class is None:
            from tqdm.auto import tqdm as tqdm_class  # tqdm.auto imports ipywidgets in a notebook: not at import
        self.tqdm, self.file, self.mininterval = tqdm_class, file, mininterval
        self.bar = None
        self.read = {"steps": 0, "epochs": 0}

    def _newest(self, record, key: str) -> dict | None:
        """The newest row of ``record.<key>`` added since the last read, or None; moves the cursor to the end."""
        rows = getattr(record, key)
        start, self.read[key] = self.read[key], len(rows)
        return rows[-1] if len(rows) > start else None

    def on_fit_start(self, state) -> None:
        record = record_of(state)                 # a resumed run's record holds earlier rows: not new to this bar
        self.read = {"steps": len(record.steps), "epochs": len(record.epochs)}

    def on_epoch_start(self, state) -> None:
        self.bar = self.tqdm(total=state.steps_per_epoch, desc=f"epoch {state.epoch + 1}/{state.epochs}",
                             file=self.file, leave=True, mininterval=self.mininterval, dynamic_ncols=True)

    def on_batch_end(self, state, logs: dict) -> None:
        if self.bar is not None:                  # the batch's place in the epoch: a resumed epoch goes on from it
            self.bar.update(state.batch + 1 - self.bar.n)

    def on_log(self, state, logs: dict) -> None:
        row = self._newest(record_of(state), "steps")
        if self.bar is not None and row is not None:
            post = _fmt({k: v for k, v in row.items() if not k.startswith("lr")})
            self.bar.set_postfix({**post, **gpu_postfix(state.device)}, refresh=False)

    def on_epoch_end(self, state, logs: dict) -> None:
        row = self._newest(record_of(state), "epochs")
        if self.bar is not None:
            if row is not None:
                self.bar.set_postfix(_fmt({k: v for k, v in row.items() if not k.startswith("lr_")}), refresh=False)
            self.bar.close()
            self.bar = None

    def on_fit_end(self, state) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        reason = record_of(state).stop_reason
        if reason:
            self.tqdm.write(f"stopped: {reason}", file=self.file)
