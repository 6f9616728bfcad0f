"""Just enough torch.distributed for `torchrun`, shared by fitting and training.

Fitting: ranks split the chunks and only meet at barriers (rank 0 merges the chunk files). Training: data-parallel,
losses averaged with `all_mean`. Without `WORLD_SIZE > 1` nothing is initialised and a single rank is used.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist


@dataclass
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Average `t` over ranks, in place (a no-op for one rank)."""
        if self.world > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t /= self.world
        return t


def launched_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA, each rank takes GPU LOCAL_RANK (ranks sharing one GPU would break nccl)."""
    if launched_world() > 1 and device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


@contextlib.contextmanager
def ranks(device: torch.device) -> Iterator[Ranks]:
    """A process group for this block when launched by torchrun (gloo on CPU, nccl on CUDA); else a single rank."""
    world = launched_world()
    if world <= 1:
        yield Ranks()
        return
    owned = not dist.is_initialized()
    if owned:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(hours=6))  # a rank may fit or checkpoint long between meetings
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size())
    finally:
        if owned:
            dist.destroy_process_group()
