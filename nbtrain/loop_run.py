"""The Trainer behind fit(): builds the run (parts, sinks, state), then fires the events in order."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from . import distributed as dist
from .callbacks import Callback, CallbackList, State
from .env import in_notebook, tune_malloc
from .errors import NbtrainError
from .history import History
from .loop import (check_batch, evaluate, make_eval_step, make_train_step, module_modes, restore_modes,
                   seed_everything)
from .metrics import Accumulator, means
from .parts import from_spec, from_user


def display_sinks(dashboard, progress: bool) -> list:
    """The live dashboard in a notebook (nbtrain.sinks.dashboard, when installed), else a tqdm bar."""
    if isinstance(dashboard, Callback):
        return [dashboard]
    if dashboard is True or (dashboard == "auto" and in_notebook()):
        try:
            from .sinks.dashboard import Dashboard
        except ImportError:
            if dashboard is True:
                raise NbtrainError("the live dashboard is not available", "fit(dashboard=True)",
                                   "use dashboard='auto' or False (a progress bar)") from None
        else:
            return [Dashboard()]
    if progress:
        from .sinks.progress import ProgressBar
        return [ProgressBar()]
    return []


def _monitor_keys(metric_names, has_val: bool) -> list[str]:
    keys = ["loss", *metric_names]
    return keys + [f"val_{k}" for k in keys] if has_val else keys


class Trainer:
    def __init__(self, spec, ls, given: dict, callbacks, resume, dashboard, progress, doctor=True):
        self.spec, self.ls = spec, ls
        self.ctx = dist.setup(ls.device)
        device = self.device = self.ctx.device
        if device.type == "cpu":
            tune_malloc()
        ckpt = None
        if resume is not None:
            from .sinks.checkpoint import load_checkpoint
            ckpt = load_checkpoint(resume, map_location=device)
        seed_everything(ls.seed)
        if spec is not None:
            p = from_spec(spec, ls, ls.epochs, self.ctx.rank, self.ctx.world_size, device,
                          **{k: v for k, v in given.items() if v is not None})
        else:
            p = from_user(**given, loop_spec=ls, epochs=ls.epochs)
        self.p = p
        self.model = p.model.to(device)
        self.net = dist.wrap(self.model, self.ctx)
        self.modes = module_modes(self.model)                           # put back as they were at the end
        self.scaler = torch.amp.GradScaler(device.type) if ls.amp == "fp16" else None
        swa = None
        if spec is not None and spec.sched.swa:
            from torch.optim.swa_utils import AveragedModel
            swa = AveragedModel(self.model)
        self.acc = Accumulator(ls.metrics, ls.topk, device)
        self.val_acc = Accumulator(ls.metrics, ls.topk, device)
        self._check_monitors(p)
        self.history = History()
        st = self.state = State(model=self.model, optimizer=p.optimizer, scheduler=p.schedule, loss_fn=p.loss_fn,
                                train_loader=p.train, val_loader=p.val, spec=spec, device=device, epochs=ls.epochs,
                                steps_per_epoch=len(p.train), history=self.history)
        if p.probe is None and (ls.logdir or any(getattr(c, "needs_probe", False) for c in callbacks or ())):
            from .parts import first_batch
            p.probe = first_batch(p.val if p.val is not None else p.train)
        run_name = ls.run_name or time.strftime("%Y%m%d-%H%M%S")
        st.extra.update(loop=ls, scaler=self.scaler, swa_model=swa, generator=p.generator, probe=p.probe,
                        rank=self.ctx.rank, world_size=self.ctx.world_size, run_name=run_name,
                        epochs_done=0, epoch_start_step=0, mid_epoch=False,
                        run_dir=Path(ls.logdir) / run_name if ls.logdir else None,          # for displays
                        checkpoint_dir=Path(ls.checkpoint_dir) / run_name if ls.checkpoint_dir else None)
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks = list(callbacks)
        cbs = [self.history, *self._sinks(ls, run_name, dashboard, progress, doctor, callbacks), *callbacks]
        ckpt_sink = self._checkpoint_sink(ls, run_name)
        cbs = [c for c in [*cbs, ckpt_sink] if c is not None]
        st.extra["callbacks"] = cbs
        self.cbs = CallbackList(cbs)
        self.train_step = make_train_step(self.net, p.loss_fn, p.optimizer, amp=ls.amp, scaler=self.scaler,
                                          grad_clip=ls.grad_clip, device_type=device.type)
        self.eval_step = make_eval_step(self.net, p.loss_fn, amp=ls.amp, device_type=device.type)
        self.start_epoch, self.ckpt, self._checked, self._partial = 0, ckpt, False, None
        st.extra["partial_state"] = self._partial_state
        if ckpt is not None:
            from .sinks.checkpoint import restore
            restore(ckpt, st, str(resume))
            self.start_epoch = ckpt["epoch"]
            self._partial = ckpt.get("partial") or None
            st.extra["epochs_done"] = st.epoch = ckpt["epoch"]

    # -- building -------------------------------------------------------------------------------------
    def _check_monitors(self, p) -> None:
        keys = _monitor_keys(self.acc.names, p.val is not None)
        checks = []
        if self.ls.early_stopping:
            checks.append(("loop.monitor", self.ls.monitor, "early stopping"))
        if getattr(p.schedule, "plateau", False):
            spec = getattr(p.schedule, "spec", None)
            checks.append(("sched.monitor", spec.monitor if spec is not None else self.ls.monitor, "ReduceLROnPlateau"))
        for where, name, who in checks:
            if name not in keys:
                fix = "monitor one of: " + ", ".join(keys)
                if name.startswith("val_") and p.val is None:
                    fix = "give validation data (val=...), or " + fix
                raise NbtrainError(f"{who} watches {name!r}, which this run does not log", where, fix)

    def _sinks(self, ls, run_name: str, dashboard, progress, doctor, callbacks) -> list:
        out = []
        from .sinks.nan_guard import NanGuard
        out.append(NanGuard())
        if ls.early_stopping:
            from .sinks.early_stop import EarlyStopping
            out.append(EarlyStopping(ls.monitor, ls.mode, ls.early_stopping, ls.min_delta, ls.restore_best))
        if not self.ctx.is_main:
            return out
        from .sinks.doctor import Doctor
        if doctor and not any(isinstance(c, Doctor) for c in callbacks):
            out.append(Doctor())
        if ls.logdir:
            from .sinks.tensorboard import TensorBoard
            out.append(TensorBoard(Path(ls.logdir) / run_name, ls.histograms, ls.feature_maps))
        return out + display_sinks(dashboard, progress)

    def _checkpoint_sink(self, ls, run_name: str):
        if not ls.checkpoint_dir or not self.ctx.is_main:
            return None
        from .sinks.checkpoint import Checkpoint
        keys = _monitor_keys(self.acc.names, self.p.val is not None)
        monitor = ls.monitor if ls.monitor in keys else "loss"
        return Checkpoint(Path(ls.checkpoint_dir) / run_name, ls.keep_last, monitor, ls.mode)

    # -- running ----------------------------------------------------------------------------------------
    def run(self) -> History:
        st, cbs = self.state, self.cbs
        error = None
        try:
            cbs.on_fit_start(st)
            if self.ckpt is not None:   # after on_fit_start, so nothing a sink does there shifts the RNG streams
                from .sinks.checkpoint import set_rng_state
                set_rng_state(self.ckpt["rng"], self.p.generator)
            for epoch in range(self.start_epoch, self.ls.epochs):
                if self._stop_everywhere():
                    break
                self.epoch(epoch)
            if not self._stop_everywhere():
                self.finish_swa()
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt (the kernel's stop button) included
            error = e
            st.request_stop("interrupted" if isinstance(e, KeyboardInterrupt) else f"error: {type(e).__name__}: {e}")
            if isinstance(e, KeyboardInterrupt):
                self._flush_window()
            cbs.on_interrupt(st, e)
        finally:
            restore_modes(self.modes)
            try:
                cbs.on_fit_end(st)
            finally:
                dist.cleanup(self.ctx)
        if error is not None and not isinstance(error, KeyboardInterrupt):
            raise error
        return self.history

    def _lrs(self) -> dict:
        groups = self.p.optimizer.param_groups
        return {("lr" if i == 0 else f"lr_{i}"): g["lr"] for i, g in enumerate(groups)}

    def _log(self, epoch: int) -> dict:
        st = self.state
        totals = self.acc.read()
        if totals["clean_steps"] < totals["steps"] and "nonfinite_step" not in st.extra:
            per_rank = totals["clean_steps"] / max(1, self.ctx.world_size)
            st.extra["nonfinite_step"] = st.extra["epoch_start_step"] + int(per_rank) + 1
        logs = {"step": st.step, "epoch": epoch + 1, **means(totals, self.acc.names, self._last), **self._lrs()}
        self._last, self._logged = totals, self.acc.steps
        return logs

    def epoch(self, epoch: int) -> None:
        st, cbs, p, dev = self.state, self.cbs, self.p, self.device
        st.epoch, st.batch = epoch, 0
        st.extra["epoch_start_step"] = st.step
        if p.set_epoch is not None:
            p.set_epoch(epoch)
        cbs.on_epoch_start(st)
        self.acc.reset()
        self._last = None
        every = self.ls.log_every
        check = None if self._checked else self._first_check
        self._logged = 0
        st.extra["mid_epoch"] = True
        batches, skip = self._batches(epoch)
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
            st.extra["batches_done"] = i + 1
            logs = self._log(epoch) if st.step % every == 0 else {}
            cbs.on_batch_end(st, logs)
            if logs:
                st.logs = logs
                cbs.on_log(st, logs)
            if (logs or self.ctx.world_size == 1) and self._stop_everywhere():   # ranks agree at log points
                break
        if self.acc.steps != self._logged:       # the window since the last log point
            logs = self._log(epoch)
            st.logs = logs
            cbs.on_log(st, logs)
        if st.should_stop and st.batch < st.steps_per_epoch - 1:
            return                                # stopped mid-epoch: no epoch end, the checkpoint is partial
        st.extra["mid_epoch"] = False
        self.end_epoch(epoch)

    def _stop_everywhere(self) -> bool:
        """Whether to stop. Alone: as soon as asked. Under torchrun a stop asked on one rank (a callback, the
        Stop button on rank 0) stops every rank at the same step, or the others would wait forever in their
        next all_reduce: the ranks agree at each log point and epoch end (one all_reduce of a flag)."""
        st = self.state
        if self.ctx.world_size == 1:
            return st.should_stop
        flag = torch.tensor([1.0 if st.should_stop else 0.0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() and not st.should_stop:
            st.request_stop("stop asked on another rank")
        return st.should_stop

    def _flush_window(self) -> None:
        """Log the steps since the last log point, so an interrupted run's logs end where it stopped."""
        st = self.state
        if st.extra.get("mid_epoch") and self.acc.steps != getattr(self, "_logged", self.acc.steps):
            logs = self._log(st.epoch)
            st.logs = logs
            self.cbs.on_log(st, logs)

    def _batches(self, epoch: int):
        """The epoch's batch iterator; resuming an interrupted epoch, the batches already trained are drawn
        again (same RNG states as then) and dropped, then every RNG is put where the interrupt left it."""
        from .sinks.checkpoint import rng_state, set_rng_state
        part, self._partial = self._partial, None
        if part:
            set_rng_state(part["epoch_rng"], self.p.generator)
        self.state.extra["epoch_rng"] = rng_state(self.p.generator)   # before the iterator draws its order
        self.state.extra["batches_done"] = 0
        it = iter(self.p.train)
        if not part:
            return it, 0
        for _ in range(part["batches"]):
            next(it)
        set_rng_state(self.ckpt["rng"], self.p.generator)
        self.state.batch = part["batches"] - 1
        self.state.extra["epoch_start_step"] = self.state.step - part["batches"]
        self.acc.load_state_dict(part["acc"])
        self._last, self._logged = part["last"] or None, part["logged"]
        self.state.extra["batches_done"] = part["batches"]
        return it, part["batches"]

    def _partial_state(self) -> dict:
        """What an interrupted epoch needs to go on exactly (see _batches); called by the checkpoint sink."""
        ex = self.state.extra
        return {"batches": ex.get("batches_done", 0), "epoch_rng": ex.get("epoch_rng"), "acc": self.acc.state_dict(),
                "last": dict(self._last or {}), "logged": self._logged}

    def _first_check(self, out, y) -> None:
        self._checked = True
        check_batch(out, y, self.p.loss_fn, self.p.num_classes)

    def end_epoch(self, epoch: int) -> None:
        st, cbs, p = self.state, self.cbs, self.p
        logs = {"epoch": epoch + 1, "step": st.step, **means(self.acc.read(), self.acc.names), **self._lrs()}
        if p.val is not None:
            vlogs = evaluate(self.net, p.val, self.eval_step, self.val_acc, self.device)
            cbs.on_validation_end(st, vlogs)
            logs.update(vlogs)
        p.schedule.after_epoch(logs)
        swa = st.extra.get("swa_model")
        if swa is not None and p.schedule.swa_active(epoch):
            swa.update_parameters(self.model)
        st.extra["epochs_done"] = epoch + 1
        st.logs = logs
        cbs.on_epoch_end(st, logs)

    def finish_swa(self) -> None:
        """SWA: recompute BatchNorm statistics for the averaged weights, use them, validate once more."""
        swa = self.state.extra.get("swa_model")
        if swa is None or int(swa.n_averaged) == 0:
            return
        from torch.optim.swa_utils import update_bn
        update_bn(((x.to(self.device), y) for x, y in self.p.train), swa, device=self.device)
        if self.ctx.world_size > 1:        # each rank saw its own shard: average the statistics, so that every
            for b in swa.module.buffers():  # rank, and the checkpoint rank 0 writes, holds the same model
                if b.is_floating_point():
                    torch.distributed.all_reduce(b)
                    b /= self.ctx.world_size
        self.model.load_state_dict(swa.module.state_dict())
        final = {"swa_epochs": int(swa.n_averaged)}
        if self.p.val is not None:
            final.update(evaluate(self.net, self.p.val, self.eval_step, self.val_acc, self.device, prefix="swa_val_"))
        self.state.extra["final"] = final
        self.history.final = final
