"""Just enough torch.distributed for fitting under `torchrun`: ranks split the chunks, rank 0 merges.

Fields are independent, so ranks never exchange tensors — only barriers, with the run folder as the meeting point
(every rank writes its own chunk files; rank 0 reads them all). Without `WORLD_SIZE > 1` nothing is initialised.
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


def launched_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA, each rank takes GPU LOCAL_RANK."""
    if launched_world() > 1 and device.type == "cuda" and device.index is None:
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
                                timeout=datetime.timedelta(hours=6))  # a rank may fit for long between barriers
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size())
    finally:
        if owned:
            dist.destroy_process_group()
