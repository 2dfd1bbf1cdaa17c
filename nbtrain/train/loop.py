"""fit() and the Trainer: the training loop. Read top-down, this IS the loop.

The loop owns the order of events (nbtrain.train.callbacks); sinks own every side effect. Nothing is printed or drawn
here. Correct by construction:
- the model in train mode at every training step (a probe or a callback calling ``model.eval()`` mid-epoch
  cannot leave it off; a layer frozen alone with ``.eval()``, as in fine-tuning, stays frozen);
- validation under ``model.eval()`` and ``torch.no_grad()``, every module's mode restored afterwards;
- ``zero_grad``, ``backward``, ``step`` in that order (nbtrain.train.steps); the schedule stepped after every optimizer
  step and at every epoch end (it decides which counts, and feeds ReduceLROnPlateau its metric);
- losses and metrics accumulate on the device and are read only at log points.
"""
from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, update_bn

from ..build.layercheck import FirstBatch, last_batch_size
from ..build.modes import module_modes, restore_modes
from ..build.optim import lr_curve
from ..build.parts import build_parts, first_batch
from ..env import tune_malloc
from ..errors import NbtrainError
from ..sinks.defaults import default_sinks
from ..spec.catalog import binary_threshold
from ..spec.trainspec import LoopSpec, TrainSpec
from . import autoresume, launch, rayrun
from . import distributed as dist
from .background import start_background
from .callbacks import Callback, CallbackList, State
from .history import History
from .interrupts import Abort, Interrupted, Interrupts, position
from .metrics import Accumulator, means
from .monitors import check_monitors, monitor_keys
from .plain import group_lrs
from .resume import load_checkpoint, load_state_dict, state_dict
from .rng import rng_state, seed_everything, set_rng_state
from .rundirs import claim_run
from .steps import check_batch, clear_error, evaluate, make_eval_step, make_train_step
from .valstats import for_parts


def _loop_spec(spec, epochs, overrides: dict) -> LoopSpec:
    known = {f.name for f in dataclasses.fields(LoopSpec)}
    for k in overrides:
        if k not in known:
            args = [n for n in inspect.signature(fit).parameters if n != "loop"]
            raise NbtrainError(f"unknown argument {k!r}", "fit",
                               f"known: {', '.join(args)} and the LoopSpec fields " + ", ".join(sorted(known)))
    if spec is not None:
        base = spec.loop.to_dict()
    else:  # parts a user built: write no files unless asked
        base = LoopSpec(logdir="", checkpoint_dir="").to_dict()
    base.update(overrides)
    if epochs is not None:
        base["epochs"] = epochs
    return LoopSpec.from_dict(base, "loop")


def fit(spec=None, *, model=None, data=None, train=None, val=None, optimizer=None, scheduler=None, loss=None,
        epochs=None, callbacks=(), resume=None, background=False, dashboard="auto", progress=True, doctor=True,
        overwrite=False, processes=None, engine=None, ray=None, **loop):
    """Train and return a History (or, with ``background=True``, a ``nbtrain.train.background.Run``).

    Give a TrainSpec (or the path of a JSON spec; ``model``, ``optimizer``, ``scheduler`` or ``loss`` given with it
    replace the built ones), or parts you built: ``model`` with ``train`` (and ``val``) loaders or ``data`` (a
    DataBundle or a ``(train, val)`` pair), and optionally ``optimizer`` (default Adam 1e-3), ``scheduler`` (a torch
    scheduler or a ``Schedule``), ``loss`` (a module or a name). Any LoopSpec field can be passed as a keyword
    (``device``, ``amp``, ``grad_clip``, ``seed``, ``logdir``, ``checkpoint_dir``, ``early_stopping`` ...). ``resume``
    is a checkpoint path: training goes on from there bit for bit (weights, optimizer, schedule, scaler, RNGs, loader
    order, History), also from ``interrupted.pt`` or a mid-epoch ``last.pt``; ``resume="auto"``: the newest complete
    checkpoint of ``run_name``'s run, if any. ``dashboard``: "auto" (the live dashboard in a notebook, else a tqdm
    bar), True, False or a Callback. ``doctor``: the training doctor (nbtrain.sinks.doctor), on by default: it warns
    once per likely mistake (Softmax before CrossEntropyLoss, unnormalized inputs, loss rising ...), each with its fix.
    ``train=(x, y)`` and ``val=(xv, yv)`` with tensors take the in-memory loader (batches of 64, the same ones a
    seeded DataLoader over a TensorDataset gives). Each run writes into its own ``logdir/<run_name>`` and
    ``checkpoint_dir/<run_name>``; a ``run_name`` that exists is refused unless resuming or ``overwrite=True``.
    Ctrl-C (the kernel's interrupt) is taken at the next batch boundary, so ``interrupted.pt`` resumes exactly.
    ``processes=N``: N torchrun workers on this machine (nbtrain.train.launch), rank 0's run shown here, live;
    ``ray=dict(num_workers=N, use_gpu=..., max_failures=..., storage_path=..., resources_per_worker=...)``: N Ray Train
    workers (nbtrain.train.rayrun; ``pip install "nbtrain[ray]"``); ``engine``: "torchrun" or "ray" for ``processes=N``.
    """
    if background:
        return start_background({**{k: v for k, v in locals().items() if k != "loop"}, **loop}, fit)  # fit's arguments
    if processes is not None or engine is not None or ray is not None:   # N workers (train.launch / train.rayrun)
        return (rayrun.fit_ray if rayrun.wants_ray(engine, processes, ray) else launch.fit_processes)(**locals())
    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        spec = TrainSpec.load(spec)
    if spec is not None and not isinstance(spec, TrainSpec):
        raise NbtrainError(f"expected a TrainSpec or the path of a JSON spec, got {type(spec).__name__}", "fit(spec)",
                           "use nbtrain.TrainSpec.default() or pass model= and train=")
    if spec is not None:          # a spec built or edited in Python is checked as its JSON file would be
        spec = TrainSpec.from_dict(spec.to_dict())
    if spec is not None and (data is not None or train is not None or val is not None):
        raise NbtrainError("a TrainSpec builds its own data", "fit",
                           "edit spec.data, or pass model= with train=/val= (or data=) and no spec")
    ls = _loop_spec(spec, epochs, loop)
    return Trainer(spec, ls, dict(model=model, data=data, train=train, val=val, optimizer=optimizer,
                                  scheduler=scheduler, loss=loss), callbacks, resume, dashboard, progress,
                   doctor, overwrite).run()


class Trainer:
    """One run: builds the parts and the State, then ``run()`` fires the events in order."""

    def __init__(self, spec, ls, given: dict, callbacks=(), resume=None, dashboard="auto", progress=True,
                 doctor=True, overwrite=False):
        self.spec, self.ls, self.overwrite = spec, ls, overwrite
        self.interrupts = Interrupts(where=lambda: position(self.state, self.interrupts.phase))
        self.ctx = dist.setup(ls.device)
        self.device = self.ctx.device
        if self.device.type == "cpu":
            tune_malloc()
        resume, self.continuing = autoresume.resolve(resume, ls, self.ctx)   # "auto": the run folder's newest
        self.ckpt = load_checkpoint(resume, map_location=self.device) if resume is not None else None
        seed_everything(ls.seed)
        p = self.p = build_parts(spec, ls, given, self.ctx.rank, self.ctx.world_size, self.device)
        self.model = p.model.to(self.device)
        self.net = dist.wrap(self.model, self.ctx)
        self.modes = module_modes(self.model)                           # put back as they were at the end
        threshold = binary_threshold(p.loss_fn)                        # binary accuracy: 0.5 for BCELoss
        self.acc = Accumulator(ls.metrics, ls.topk, self.device, threshold)
        self.val_acc = Accumulator(ls.metrics, ls.topk, self.device, threshold,   # + confusion, worst samples
                                   stats=for_parts(p, self.device, self.ctx.rank, self.ctx.world_size))
        keys = monitor_keys(self.acc.names, p.val is not None)
        check_monitors(ls, p, keys)
        self.history = History()
        self.claim = claim_run(ls, resume=self.ckpt is not None or self.continuing, overwrite=self.overwrite,
                               is_main=self.ctx.is_main)
        with self.claim.released_on_error():       # a resume refused frees the run's folders for the corrected rerun
            self.state = self._state(callbacks, keys, dashboard, progress, doctor)
            self.cbs = CallbackList(self.state.callbacks)
            self.train_step = make_train_step(self.net, p.loss_fn, p.optimizer, amp=ls.amp, scaler=self.state.scaler,
                                              grad_clip=ls.grad_clip, device_type=self.device.type)
            self.eval_step = make_eval_step(self.net, p.loss_fn, amp=ls.amp, device_type=self.device.type)
            self.first = FirstBatch(self.model, self._first_check, last_batch_size(p.train))  # the first step
            self.start_epoch, self._checked, self._partial = 0, False, None
            self._last, self._logged, self._epoch_rng = None, 0, None
            if self.ckpt is not None:
                load_state_dict(self.state, self.ckpt, str(resume))
                self.start_epoch = self.ckpt["epoch"]
                self._partial = self.ckpt.get("partial") or None
                if self._partial:     # the log an interrupt flushed: the resumed run logs that window again, whole
                    logged_at = self.ckpt["step"] - self._partial["batches"] + self._partial["logged"]
                    self.history.drop_steps_after(logged_at)

    def _state(self, callbacks, keys, dashboard, progress, doctor) -> State:
        ls, p, ctx = self.ls, self.p, self.ctx
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks = list(callbacks or ())
        if p.probe is None and (ls.logdir or any(getattr(c, "needs_probe", False) for c in callbacks)):
            p.probe = first_batch(p.val if p.val is not None else p.train)
        run_name = self.claim.name
        st = State(model=self.model, optimizer=p.optimizer, scheduler=getattr(p.schedule, "scheduler", None),
                   schedule=p.schedule, loss_fn=p.loss_fn, train_loader=p.train, val_loader=p.val, spec=self.spec,
                   loop_spec=ls, device=self.device, epochs=ls.epochs, steps_per_epoch=len(p.train),
                   history=self.history, generator=p.generator, probe=p.probe, rank=ctx.rank,
                   world_size=ctx.world_size, run_name=run_name,
                   scaler=torch.amp.GradScaler(self.device.type, enabled=ls.amp == "fp16"),
                   swa_model=AveragedModel(self.model) if self.spec is not None and self.spec.sched.swa else None,
                   run_dir=Path(ls.logdir) / run_name if ls.logdir else None,
                   checkpoint_dir=Path(ls.checkpoint_dir) / run_name if ls.checkpoint_dir else None)
        st.callbacks = [self.history, *default_sinks(ls, run_name=run_name, is_main=ctx.is_main, dashboard=dashboard,
                                                     progress=progress, doctor=doctor, callbacks=callbacks)]
        st._snapshot = self.state_dict
        self._record(st, keys)
        return st

    def _record(self, st: State, keys: list[str]) -> None:
        """What the run record needs to know from the start: the monitor and mode the run was given (fit's own
        arguments over the spec's, "auto" its catalog direction; the loss when it is not logged), the planned LR, and
        whether a display shows the notes (then the doctor prints no warning)."""
        ls, h = self.ls, self.history
        if ls.monitor in keys:
            h.watch(ls.monitor, ls.mode)
        else:
            h.watch("loss", "min")
        if self.spec is not None and st.steps_per_epoch:
            spec, epochs, spe = self.spec, st.epochs, st.steps_per_epoch
            h.plan_lr(lambda: lr_curve(spec.optim, spec.sched, epochs, spe))
        h.notes_shown = any(getattr(c, "shows_notes", False) for c in st.callbacks)

    def state_dict(self) -> dict:
        """What a checkpoint holds now (nbtrain.train.resume); mid-epoch, with what the epoch needs to go on exactly."""
        st = self.state
        partial = self._partial           # resumed mid-epoch and stopped before that epoch went on: keep its record
        if st.mid_epoch:
            partial = {"batches": st.batches_done, "epoch_rng": self._epoch_rng, "acc": self.acc.state_dict(),
                       "last": dict(self._last or {}), "logged": self._logged}
        return state_dict(st, partial)

    # -- running ----------------------------------------------------------------------------------------
    def run(self) -> History:
        """on_fit_start, the epochs, SWA's finish, on_fit_end; an interrupt (Ctrl-C, the kernel's stop) is taken at
        the next batch boundary and the History so far returned; a third interrupt aborts without saving."""
        st, cbs = self.state, self.cbs
        error = None
        with self.interrupts:
            try:
                self._train()
            except BaseException as e:  # KeyboardInterrupt (the kernel's stop button) included
                error = dist.peer_lost(e) or clear_error(e)   # a lost peer rank, a label out of range: clear
                if not isinstance(e, Abort):
                    error = self._interrupted(error)
            finally:
                restore_modes(self.modes)
                try:
                    if not isinstance(error, Abort):
                        cbs.on_fit_end(st)
                except Abort as a:             # a third press while the run's end was saved
                    error = a
                finally:
                    if isinstance(error, Abort):
                        self.interrupts.end_aborted(st, cbs, error)   # the record ends; nothing else is written
                    self.claim.release()
                    dist.cleanup(self.ctx)
        if error is not None and (isinstance(error, Abort) or not isinstance(error, KeyboardInterrupt)):
            raise error
        return self.history

    def _train(self) -> None:
        st = self.state
        self.cbs.on_fit_start(st)
        if self.ckpt is not None:   # after on_fit_start, so nothing a sink does there shifts the RNG streams
            set_rng_state(self.ckpt["rng"], self.p.generator)
        for epoch in range(self.start_epoch, self.ls.epochs):
            self.interrupts.check()
            if self._stop_everywhere():
                break
            self.epoch(epoch)
        stop = self._stop_everywhere()            # under DDP: a Ctrl-C since the last log point, agreed on here
        self.interrupts.check(final=True)         # one during the last epoch's end (its checkpoint is written)
        if not stop:
            self.finish_swa()
        self.interrupts.check(final=True)         # under DDP: one during SWA's finish, taken once it is done

    def _interrupted(self, e: BaseException) -> BaseException:
        """Stop, log the window since the last log point, tell the sinks; returns the error to re-raise."""
        st = self.state
        st.request_stop(str(e) if isinstance(e, Interrupted) else "interrupted" if isinstance(e, KeyboardInterrupt)
                        else f"error: {type(e).__name__}: {e}")
        try:
            if isinstance(e, KeyboardInterrupt):
                self._flush_window()
            self.cbs.on_interrupt(st, e)
        except Abort as a:
            return a
        return e

    def epoch(self, epoch: int) -> None:
        st, cbs, p, dev = self.state, self.cbs, self.p, self.device
        st.epoch, st.batch = epoch, 0
        self._epoch_start_step = st.step
        if p.set_epoch is not None:
            p.set_epoch(epoch)
        cbs.on_epoch_start(st)
        self.acc.reset()
        self._last, self._logged = None, 0
        every = self.ls.log_every
        check = None if self._checked else self.first.run
        st.mid_epoch = True
        batches, skip = self._batches()
        for i, (x, y) in enumerate(batches, start=skip):
            st.batch = i
            cbs.on_batch_start(st)
            if not self.net.training:             # a callback switched it off (a probe or validation restores it);
                self.net.train()                  # layers a callback froze alone (BatchNorm.eval()) stay frozen
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            loss, out = self.train_step(x, y, check)
            check = None
            self.acc.update(loss, out, y)
            p.schedule.after_step()
            st.step += 1
            st.batches_done = i + 1
            logs = self._log(epoch) if st.step % every == 0 else {}
            cbs.on_batch_end(st, logs)
            if logs:
                st.logs = logs
                cbs.on_log(st, logs)
            if (logs or self.ctx.world_size == 1) and self._stop_everywhere():   # ranks agree at log points
                break
            self.interrupts.check()               # a Ctrl-C since the last boundary: stop here, where all agrees
        if self.acc.steps != self._logged:       # the window since the last log point
            st.logs = logs = self._log(epoch)
            cbs.on_log(st, logs)
        if st.should_stop and st.batch < st.steps_per_epoch - 1:
            return dist.reduce_window(self.acc, self.ctx)   # stopped mid-epoch: a partial checkpoint, every rank's sums
        self.end_epoch(epoch)

    def _lrs(self) -> dict:
        return group_lrs(self.p.optimizer)

    def _log(self, epoch: int, advance: bool = True) -> dict:
        st = self.state
        totals = self.acc.read()
        if totals["clean_steps"] < totals["steps"] and st.nonfinite_step is None:
            per_rank = totals["clean_steps"] / max(1, self.ctx.world_size)
            st.nonfinite_step = self._epoch_start_step + int(per_rank) + 1
        logs = {"step": st.step, "epoch": epoch + 1, **means(totals, self.acc.names, self._last), **self._lrs()}
        if advance:                 # an interrupt's flush does not: the resumed run logs this window again, whole
            self._last, self._logged = totals, self.acc.steps
        return logs

    def _stop_everywhere(self) -> bool:
        """Whether to stop. Alone: as soon as asked. Under torchrun a stop asked on one rank (a callback, the
        Stop button on rank 0) stops every rank at the same step, or the others would wait forever in their
        next all_reduce: the ranks agree at each log point and epoch end (one all_reduce of a flag)."""
        st = self.state
        if self.ctx.world_size == 1:
            return st.should_stop
        if self.interrupts.pending() and not st.should_stop:     # a Ctrl-C here: every rank stops at this step
            st.request_stop(self.interrupts.pending())
        flag = torch.tensor([1.0 if st.should_stop else 0.0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() and not st.should_stop:
            st.request_stop("stop asked on another rank")
        return st.should_stop

    def _flush_window(self) -> None:
        """Log the steps since the last log point, so an interrupted run's logs end where it stopped."""
        st = self.state
        if st.mid_epoch and self.acc.steps != self._logged:
            st.logs = logs = self._log(st.epoch, advance=False)
            self.cbs.on_log(st, logs)

    def _batches(self):
        """The epoch's batch iterator; resuming an interrupted epoch, the batches already trained are drawn
        again (same RNG states as then) and dropped, then every RNG is put where the interrupt left it."""
        st, part, self._partial = self.state, self._partial, None
        if part:
            set_rng_state(part["epoch_rng"], self.p.generator)
        self._epoch_rng = rng_state(self.p.generator)   # before the iterator draws its order
        st.batches_done = 0
        it = iter(self.p.train)
        if not part:
            return it, 0
        for _ in range(part["batches"]):
            next(it)
        set_rng_state(self.ckpt["rng"], self.p.generator)
        st.batch = part["batches"] - 1
        self._epoch_start_step = st.step - part["batches"]
        self.acc.load_state_dict(dist.rank_share(part["acc"], self.ctx))
        self._last, self._logged = part["last"] or None, part["logged"]
        st.batches_done = part["batches"]
        return it, part["batches"]

    def _first_check(self, out, y) -> None:
        self._checked = True
        check_batch(out, y, self.p.loss_fn, self.p.num_classes, self.p.labels)

    def end_epoch(self, epoch: int) -> None:
        """The epoch's train logs, validation, the schedule's epoch step, SWA's averaging, on_epoch_end."""
        st, cbs, p = self.state, self.cbs, self.p
        logs = {"epoch": epoch + 1, "step": st.step, **means(self.acc.read(), self.acc.names), **self._lrs()}
        if p.val is not None:
            vlogs = evaluate(self.net, self.interrupts.watch(p.val, "validation"), self.eval_step, self.val_acc,
                             self.device)     # stopped here: partial, every batch done; the resumed run validates
            self.history.record_validation(self.val_acc.collected)
            cbs.on_validation_end(st, vlogs)
            logs.update(vlogs)
        st.mid_epoch = False
        p.schedule.after_epoch(logs)
        if st.swa_model is not None and p.schedule.swa_active(epoch):
            st.swa_model.update_parameters(self.model)
        st.epochs_done = epoch + 1
        st.logs = logs
        cbs.on_epoch_end(st, logs)

    def finish_swa(self) -> None:
        """SWA: recompute BatchNorm statistics for the averaged weights, use them, validate once more."""
        swa = self.state.swa_model
        if swa is None or int(swa.n_averaged) == 0:
            return
        rng = rng_state(self.p.generator)   # stopped in here: the RNGs go back there, so the resumed run's redo is exact
        try:
            self._finish_swa(swa)
        except KeyboardInterrupt:
            set_rng_state(rng, self.p.generator)
            raise

    def _finish_swa(self, swa) -> None:
        watched = self.interrupts.watch(self.p.train, "SWA's update_bn")
        update_bn(((x.to(self.device), y) for x, y in watched), swa, device=self.device)
        if self.ctx.world_size > 1:        # each rank saw its own shard: average the statistics, so that every
            for b in swa.module.buffers():  # rank, and the checkpoint rank 0 writes, holds the same model
                if b.is_floating_point():
                    torch.distributed.all_reduce(b)
                    b /= self.ctx.world_size
        self.model.load_state_dict(swa.module.state_dict())
        final = {"swa_epochs": int(swa.n_averaged)}
        if self.p.val is not None:
            final.update(evaluate(self.net, self.interrupts.watch(self.p.val, "SWA's validation"), self.eval_step,
                                  self.val_acc, self.device, prefix="swa_val_"))
        self.state.final = final
        self.history.final = final
