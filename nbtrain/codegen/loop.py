"""The training part of an exported script: nbtrain's own loop code, emitted verbatim, and the lines that call it.

``nbtrain.train.plain`` (the train and eval steps fit() runs, and the plain loop around them) and
``nbtrain.build.plainsched`` (when the scheduler steps, fit()'s Schedule's own stepping) are importable, linted
and tested modules of plain PyTorch; this module emits their source (``inspect.getsource``), then the catalog's
metric functions the run uses, then a call of ``train`` whose arguments are the header's constants and checked
metric names: no spec text reaches the code but as ``repr`` literals.
"""
from __future__ import annotations

from ..build import plainsched
from ..spec.catalog import binary_threshold
from ..train import plain
from ..train.metrics import metric_fns
from .data import module_code, source
from .literals import py

MODULES = (plainsched, plain)   # emitted whole, in this order

_CALL = '''swa_model = AveragedModel(model) if SWA else None
stepper = Stepper(optimizer, scheduler, per_step=PER_STEP, monitor=SCHED_MONITOR, swa=SWA, swa_start=SWA_START,
                  swa_lr=SWA_LR, swa_anneal_epochs=SWA_ANNEAL_EPOCHS)
early_stop = EarlyStop(MONITOR, MODE, PATIENCE, MIN_DELTA, RESTORE_BEST) if PATIENCE else None
writer = SummaryWriter(LOGDIR) if LOGDIR else None
history, final = train(model, train_loader, val_loader, optimizer, loss_fn, stepper, device, EPOCHS, batch_metrics,
                       amp=AMP, grad_clip=GRAD_CLIP, log_every=LOG_EVERY, writer=writer, histograms=HISTOGRAMS,
                       early_stop=early_stop, swa_model=swa_model)
if writer is not None:
    writer.close()
'''


def metric_code(loop) -> str:
    """The catalog's batch functions the loop's metrics use (emitted verbatim: the script's accuracy is fit()'s)
    and ``batch_metrics`` made from them with fit()'s arguments (nbtrain.metrics.metric_fns)."""
    fns = metric_fns(loop.metrics, int(loop.topk), binary_threshold(loop.loss))
    code = "".join(source(fn) for fn in dict.fromkeys(fn for _, fn, _ in fns))
    triples = ", ".join(f"({py(n)}, {fn.__name__}, {py(kw)})" for n, fn, kw in fns)
    return code + f"batch_metrics = metric_sums([{triples}])\n"


def loop_code(loop) -> str:
    """The script's training section for ``loop`` (a checked LoopSpec; the header defines the constants)."""
    return "".join(module_code(m) for m in MODULES) + metric_code(loop) + _CALL
