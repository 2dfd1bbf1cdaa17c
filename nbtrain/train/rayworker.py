"""One worker of ``fit(spec, processes=N, engine="ray")``: nbtrain's own loop inside a Ray Train worker.

Ray Train's TorchTrainer starts the N workers (on this machine or across a cluster), sets RANK, WORLD_SIZE and
LOCAL_RANK and joins them in one process group (gloo on CPU, NCCL on GPU) before ``train_loop`` runs. fit() then
runs exactly as under torchrun (nbtrain.train.distributed: the same DistributedSampler shards, the same seeds, its
own DDP wrap), which is why the numbers are torchrun's; Ray's ``prepare_model`` / ``prepare_data_loader`` would redo
what fit() already does. The worker reaches the notebook through the Channel (nbtrain.train.raychannel). When Ray
restarts the worker group after a lost worker (``FailureConfig(max_failures)``), each rank resumes from
``ray.train.get_checkpoint()`` (the last checkpoint nbtrain reported): exactly, as ``resume=`` does (weights,
optimizer, RNG states, sampler epoch, History). The driver names this module (nbtrain.train.rayrun), as launch names
nbtrain.train.worker: nothing imports it but Ray.
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
from .loop import fit
from .raychannel import CKPT, ChannelFollow, ChannelRelay, ReportCheckpoints


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

