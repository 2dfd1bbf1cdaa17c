"""The sinks fit() assembles by default, in dispatch order.

History first (the others read it), then the NaN guard and early stopping (they may ask to stop), then, on the
main process only, the per-layer statistics (with the doctor or the live dashboard, which read them), the doctor,
TensorBoard and the display (the live dashboard in a notebook, else a tqdm bar), then
the user's callbacks, and the checkpoint sink last (it saves what the others have settled).
"""
from __future__ import annotations

from pathlib import Path

from ..env import in_notebook
from ..train.callbacks import Callback
from .checkpoint import Checkpoint
from .dashboard import Dashboard
from .doctor import Doctor
from .early_stop import EarlyStopping
from .layerstats import LayerStats
from .nan_guard import NanGuard
from .progress import ProgressBar
from .runinfo import RunInfo
from .tensorboard import TensorBoard


def display_sinks(dashboard, progress: bool) -> list:
    """The live dashboard in a notebook (or when asked with True), else a tqdm bar (or nothing)."""
    if isinstance(dashboard, Callback):
        return [dashboard]
    if dashboard is True or (dashboard == "auto" and in_notebook()):
        return [Dashboard()]
    return [ProgressBar()] if progress else []


def default_sinks(ls, *, run_name: str, is_main: bool, dashboard="auto", progress=True,
                  doctor=True, callbacks=()) -> list:
    """Every callback of a run, in dispatch order, the user's ``callbacks`` included (History is the loop's)."""
    out: list = [NanGuard()]
    if ls.early_stopping:
        out.append(EarlyStopping(ls.monitor, ls.mode, ls.early_stopping, ls.min_delta, ls.restore_best))
    if is_main:
        shown = display_sinks(dashboard, progress)
        if (doctor or any(isinstance(c, Dashboard) for c in shown)) and \
                not any(isinstance(c, LayerStats) for c in callbacks):
            out.append(LayerStats())         # cheap: a few norms per log point, one probe forward per epoch
        if doctor and not any(isinstance(c, Doctor) for c in callbacks):
            out.append(Doctor())
        if ls.logdir:
            out.append(TensorBoard(Path(ls.logdir) / run_name, ls.histograms, ls.feature_maps))
            if not any(isinstance(c, RunInfo) for c in callbacks):
                out.append(RunInfo())      # <run>/nbtrain-run.json: what nb.runs() lists
        out += shown
    out += list(callbacks)
    if ls.checkpoint_dir and is_main:        # best.pt: the run record's best epoch (its monitor and mode)
        out.append(Checkpoint(Path(ls.checkpoint_dir) / run_name, ls.keep_last))
    return out
