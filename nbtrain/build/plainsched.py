"""When a torch scheduler steps, in plain PyTorch: ``Stepper``, shared by fit() and the exported script.

``nbtrain.build.optim.Schedule`` builds the scheduler from a spec and is a Stepper; ``to_code`` emits this module's
source verbatim (``inspect.getsource``), so a script steps its scheduler, ReduceLROnPlateau and SWA's SWALR exactly
as fit() does. So this module imports only torch and the standard library.
"""
import warnings

import torch
from torch.optim.swa_utils import SWALR


class Stepper:
    """Steps ``scheduler`` (a torch LR scheduler or None) after each optimizer step when ``per_step``, else at each
    epoch end (ReduceLROnPlateau fed the epoch's ``monitor``); from epoch ``swa_start`` (0-based) on, with ``swa``,
    SWA's SWALR takes over the LR (to ``swa_lr``, or each group's initial LR, over ``swa_anneal_epochs``)."""

    def __init__(self, optimizer, scheduler, per_step=False, monitor="val_loss", swa=False, swa_start=0,
                 swa_lr=None, swa_anneal_epochs=1):
        self.optimizer, self.scheduler, self.per_step, self.monitor = optimizer, scheduler, per_step, monitor
        self.plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self.swa, self.swa_start, self.swa_lr, self.swa_anneal_epochs = swa, swa_start, swa_lr, swa_anneal_epochs
        self.swa_scheduler = None
        self.epoch = 0

    def swa_active(self, epoch):
        """True when ``epoch`` (0-based) is one whose end SWA averages."""
        return self.swa and epoch >= self.swa_start

    def after_step(self):
        if self.per_step and self.scheduler is not None and self.swa_scheduler is None:
            self.scheduler.step()

    def after_epoch(self, logs=None):
        """The epoch-end step; ``logs`` (the epoch's logs) holds ``monitor`` for ReduceLROnPlateau."""
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.swa_active(epoch):
            if self.swa_scheduler is None:
                swa_lr = self.swa_lr or [g.get("initial_lr", g["lr"]) for g in self.optimizer.param_groups]
                self.swa_scheduler = SWALR(self.optimizer, swa_lr=swa_lr, anneal_epochs=self.swa_anneal_epochs)
            with warnings.catch_warnings():
                # SWALR is made at the end of an epoch, after the optimizer's steps: torch can't see them
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                self.swa_scheduler.step()
            return
        if self.scheduler is None or self.per_step:
            return
        if self.plateau:
            self.scheduler.step(float(logs[self.monitor]))
        else:
            self.scheduler.step()
