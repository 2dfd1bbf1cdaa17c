"""One worker of ``fit(spec, ray=dict(num_workers=N))``: nbtrain's own loop inside a Ray Train worker.

Ray Train's TorchTrainer starts the N workers (on this machine or across a cluster), sets RANK, WORLD_SIZE and
LOCAL_RANK and joins them in one process group (gloo on CPU, NCCL on GPU) before ``train_loop`` runs. fit() then
runs exactly as under torchrun (nbtrain.train.distributed: the same DistributedSampler shards, the same seeds, its
own DDP wrap), which is why the numbers are torchrun's; Ray's ``prepare_model`` / ``prepare_data_loader`` would redo
what fit() already does. The worker reaches the notebook through the Channel (nbtrain.train.raychannel) with the
callbacks below. Ray's checkpoints are nbtrain's: at each epoch's start after the first of an attempt, every rank
calls ``ray.train.report`` (a barrier) and rank 0 attaches the checkpoint nbtrain wrote at the previous epoch's end
(``epoch_NNN.pt``). When Ray restarts the worker group after a lost worker (``FailureConfig(max_failures)``), each
rank resumes from ``ray.train.get_checkpoint()`` (the last checkpoint nbtrain reported): exactly, as ``resume=``
does (weights, optimizer, RNG states, sampler epoch, History). The driver names this module (nbtrain.train.rayrun),
as launch names nbtrain.train.worker: nothing imports it but Ray.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import ray
import ray.train

from ..spec.trainspec import TrainSpec
from .callbacks import Callback
from .loop import fit
from .relay import Follow, Relay

CKPT = "nbtrain.pt"          # the file inside each checkpoint nbtrain reports to Ray


class _Lines:
    """A file-like end of the Channel: what Relay writes goes to the actor at each flush (one call, not waited on;
    Ray keeps one caller's calls to an actor in order)."""

    def __init__(self, channel):
        self.channel, self.buf = channel, []

    def write(self, text: str) -> None:
        self.buf.append(text)

    def flush(self) -> None:
        if self.buf:
            self.channel.put.remote("".join(self.buf))
            self.buf = []

    def close(self) -> None:
        self.flush()


class ChannelRelay(Relay):
    """Rank 0: each event as one JSON line into the Channel."""

    def __init__(self, channel):
        super().__init__(".")
        self.channel = channel
        self.file = _Lines(channel)

    def on_fit_end(self, state) -> None:
        super().on_fit_end(state)
        self.file = _Lines(self.channel)


class ChannelFollow(Follow):
    """Every rank: the driver's controls at each log point, read from the Channel by rank 0."""

    def __init__(self, channel, poll: float = 0.2):
        super().__init__(".", poll)
        self.channel = channel

    def _read(self) -> dict:
        return ray.get(self.channel.control.remote())


class ReportCheckpoints(Callback):
    """Every rank, at each epoch's start but the first of this attempt: ``ray.train.report`` (rank 0 with the
    checkpoint nbtrain wrote when the previous epoch ended; the checkpoint sink runs after the callbacks, so at
    ``on_epoch_end`` it is not written yet)."""

    def __init__(self):
        self.first = True

    def on_epoch_start(self, state) -> None:
        if self.first:                 # epoch 0, or the epoch a resumed attempt starts with: nothing new to report
            self.first = False
            return
        metrics = {"epoch": state.epoch, "step": state.step}
        path = Path(state.checkpoint_dir) / f"epoch_{state.epoch:03d}.pt" if state.checkpoint_dir else None
        if state.rank != 0 or path is None or not path.is_file():
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="nbtrain-ray-") as d:
            _link_or_copy(path, Path(d) / CKPT)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(d))


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:                    # another file system: a copy
        shutil.copyfile(src, dst)


def _ray_resume(given):
    """The checkpoint Ray restored (copied into a folder of this process's: Ray may remove its own copy), else the
    user's ``resume``; and the folder to remove at the end (or None)."""
    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return given, None
    keep = Path(tempfile.mkdtemp(prefix="nbtrain-ray-resume-"))
    with ckpt.as_directory() as d:
        shutil.copyfile(Path(d) / CKPT, keep / CKPT)
    return str(keep / CKPT), keep


def train_loop(config: dict) -> None:
    """Ray Train's ``train_loop_per_worker``: fit() on this rank with the Channel's relay and controls."""
    channel, rank = config["channel"], int(os.environ.get("RANK", "0"))
    resume, keep = _ray_resume(config.get("resume"))
    again = rank == 0 and ray.get(channel.begin.remote()) > 0
    callbacks = [ChannelFollow(channel), ReportCheckpoints()] + ([ChannelRelay(channel)] if rank == 0 else [])
    try:      # a restart with nothing to resume from starts over in the run's folders (its first try's output)
        h = fit(TrainSpec.from_dict(config["spec"]), resume=resume, callbacks=callbacks, dashboard=False,
                progress=False, overwrite=again and resume is None)
    finally:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
    if rank == 0:
        ray.get(channel.finish.remote(json.loads(json.dumps(
            {**h.to_dict(), "run_name": h.run_name, "interrupted": h.interrupted}, default=str))))

