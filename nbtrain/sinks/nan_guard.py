"""Stop the run when the loss stops being a finite number, naming the step and what to try; say so, once, when the
validation loss is not finite while the training loss is (NaN or inf in the validation data, read at epoch ends).

The one place that detects it (the doctor leaves it here): the message becomes the run's stop reason and a note in
the run record (``state.note``), and a RuntimeWarning only where no display shows the notes (the live dashboard does).
"""
from __future__ import annotations

import math

from ..train.callbacks import Callback


class NanGuard(Callback):
    """Checks at every log point (the loop tracks the first non-finite step on the device, no sync per step)."""

    def __init__(self, warn: bool = True):
        self.warn = warn
        self.message = ""
        self.val_message = ""

    def on_epoch_end(self, state, logs: dict) -> None:
        v, loss = logs.get("val_loss"), logs.get("loss")
        if self.val_message or not isinstance(v, float) or math.isfinite(v) or not isinstance(loss, float) \
                or not math.isfinite(loss):
            return
        self.val_message = (f"epoch {logs.get('epoch', state.epoch + 1)}: the validation loss is {v} while the training "
                            "loss is finite: the validation data holds NaN or inf values, or the model overflows on "
                            "them (check the inputs with torch.isfinite(x).all(); drop or fill those samples)")
        self._say(state, self.val_message)

    def _say(self, state, message: str) -> None:
        if self.warn:
            state.note(message, RuntimeWarning)
        else:
            state.notes.append(message)

    def on_log(self, state, logs: dict) -> None:
        step = state.nonfinite_step
        loss = logs.get("loss")
        if step is None and (loss is None or math.isfinite(loss)):
            return
        if self.message:
            return
        lr = state.optimizer.param_groups[0]["lr"] if state.optimizer is not None else None
        kind = "nan" if loss is not None and math.isnan(loss) else "inf" if loss is not None and math.isinf(loss) \
            else "not finite"
        lower = f"e.g. lr={lr / 10:g}" if lr else "e.g. divide it by 10"
        self.message = (f"step {step if step is not None else state.step}: the loss became {kind} "
                        f"(lower the learning rate, {lower}, or set grad_clip=1.0)")
        state.request_stop(self.message)
        self._say(state, self.message)
