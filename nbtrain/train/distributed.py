"""torchrun support: one process per device, DistributedDataParallel, logging and checkpoints on rank 0.

``torchrun --nproc_per_node N -m nbtrain run SPEC.json`` sets RANK, WORLD_SIZE and LOCAL_RANK; fit()
then joins the process group (gloo on CPU, nccl on GPU), asks build_data for this rank's shard (a
DistributedSampler), wraps the model in DDP and keeps the sinks that write (TensorBoard, checkpoints,
progress) on rank 0. Logged metrics are all-reduced, so every rank sees the same logs.
"""
from __future__ import annotations

import datetime
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as td
from torch.nn.parallel import DistributedDataParallel as DDP

from ..env import is_torchrun, pick_device, pid_alive, torchrun_ranks
from ..errors import NbtrainError

PEERS: dict[int, tuple[str, int]] = {}   # rank -> (host, pid) of every rank of this process's group (setup)
LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "remote process exited")


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    device: Any = None
    active: bool = False   # running under torch.distributed with more than this process
    owned: bool = False    # this fit() created the process group (and destroys it at the end)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_name: str = "auto") -> DistContext:
    """Join the process group torchrun describes; a plain single-process context otherwise."""
    if not is_torchrun() and not (td.is_available() and td.is_initialized()):
        return DistContext(device=pick_device(device_name))
    rank, world, local = torchrun_ranks()
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    device = torch.device("cuda", local) if use_cuda else pick_device("cpu" if device_name == "auto" else device_name)
    if use_cuda:
        torch.cuda.set_device(device)
    owned = not td.is_initialized()
    if owned:
        join("nccl" if use_cuda else "gloo")
        rank, world = td.get_rank(), td.get_world_size()
    if world > 1:                 # who the peers are, once: a lost one is then named (peer_lost)
        got: list = [None] * world
        td.all_gather_object(got, (socket.gethostname(), os.getpid()))
        PEERS.clear()
        PEERS.update(enumerate(got))
    return DistContext(rank, world, device, active=world > 1, owned=owned)


def _gone(pid: int) -> bool:
    """Whether a process of this machine has ended (a zombie its parent has not reaped yet counts as ended)."""
    if not pid_alive(pid):
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def peer_lost(e: BaseException, wait: float = 2.0) -> NbtrainError | None:
    """A collective that failed because a peer rank ended (killed, crashed: gloo's "Connection closed by peer") as
    one error naming that rank and what to do; None for any other error, and outside torchrun (Ray restarts its
    workers itself: the fix named here is torchrun's)."""
    how = next((s for s in LOST if s in str(e)), None)
    if how is None or not PEERS or not os.environ.get("TORCHELASTIC_RUN_ID"):
        return None
    me, end = socket.gethostname(), time.monotonic() + wait
    while True:                   # the peer's sockets close as it exits, a moment before it is seen to have ended
        dead = [r for r, (host, pid) in PEERS.items() if host == me and pid != os.getpid() and _gone(pid)]
        if dead or time.monotonic() > end:
            break
        time.sleep(0.05)
    who = ", ".join(f"rank {r} (process {PEERS[r][1]} on {PEERS[r][0]})" for r in dead) or "a rank on another machine"
    return NbtrainError(f"{who} ended in the middle of the run, so this rank cannot go on (the process group: {how})",
                        "torchrun", "torchrun's report names how it ended, and the checkpoints written before are "
                        "whole: run it with --max-restarts N and --resume auto --run-name NAME, and torchrun restarts "
                        "every rank from the run's newest checkpoint (nbtrain torchrun --nproc_per_node 2 "
                        "--max-restarts 3 -m nbtrain run SPEC.json --resume auto --run-name NAME)")


def attempt_prefix() -> str | None:
    """The key prefix of this round of a torchrun restart, or None where none is needed (or none would be right).

    torchrun's c10d rendezvous keeps ONE store for every round (torch.distributed.elastic's dynamic rendezvous caches
    its shared TCPStore server; the workers connect to it without a per-round prefix, TORCHELASTIC_USE_AGENT_STORE).
    The process group's keys of the round before a restart are still there: gloo's address of each rank. A rank of
    the restarted round that reads a peer's key before that peer rewrote it connects to the dead worker's port:
    "Gloo connectFullMesh failed ... Connection refused", or both wait for each other until the timeout (30 min).
    Each round under its own prefix reads only its own keys. The restart count is the same on every rank only when
    one agent runs them all (one node); with several nodes an agent restarted by the others' round change does not
    count it, so there the prefix would split the ranks: set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 on every node."""
    env = os.environ
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or env.get("GROUP_WORLD_SIZE", "1") != "1":
        return None
    return f"nbtrain/attempt_{env.get('TORCHELASTIC_RESTART_COUNT', '0')}"


def join(backend: str) -> None:
    """init_process_group from torchrun's environment, under this round's own store prefix where it needs one."""
    prefix = attempt_prefix()
    if prefix is None:
        td.init_process_group(backend)
        return
    store, rank, world = next(td.rendezvous("env://"))
    td.init_process_group(backend, store=td.PrefixStore(prefix, store), rank=rank, world_size=world)


def wrap(model, ctx: DistContext):
    """The model DDP-wrapped for training when running on more than one process (else the model itself)."""
    if not ctx.active:
        return model
    return DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def cleanup(ctx: DistContext, wait_s: float = 60) -> None:
    """Leave the process group together, then destroy it.

    Without the barrier a rank with nothing to write (rank 1) tore its gloo group down and exited while rank 0 was
    still saving checkpoints, and now and then died in that teardown ("terminate called without an active
    exception", SIGABRT: torchrun then fails the whole run). The barrier is a monitored one with a time limit, so
    when a rank failed and its peer is stuck elsewhere, this waits ``wait_s`` at most and destroys the group anyway.
    """
    if not (ctx.owned and td.is_initialized()):
        return
    if ctx.active and td.get_backend() == "gloo":   # monitored_barrier is gloo's only
        try:
            td.monitored_barrier(timeout=datetime.timedelta(seconds=wait_s))
        except Exception:   # a peer that failed or left: tear down regardless
            pass
    td.destroy_process_group()


def reduce_window(acc, ctx: DistContext) -> None:
    """A stop every rank agreed on, mid-epoch: the epoch's running sums of every rank, summed into rank 0's
    accumulator (the others' set to zero), so the checkpoint rank 0 writes holds the whole epoch so far."""
    if not ctx.active:
        return
    t = torch.cat([acc.sums, torch.tensor([float(acc.count)], dtype=acc.sums.dtype, device=acc.sums.device)])
    td.all_reduce(t)
    if ctx.rank != 0:
        t.zero_()
    acc.sums, acc.count = t[:-1].clone(), int(t[-1].item())


def rank_share(acc_state: dict, ctx: DistContext) -> dict:
    """What a rank loads of a mid-epoch checkpoint's sums: all of them on rank 0, none elsewhere (the next read
    adds every rank's)."""
    if not ctx.active or ctx.rank == 0:
        return acc_state
    return {**acc_state, "sums": torch.zeros_like(acc_state["sums"]), "count": 0}
