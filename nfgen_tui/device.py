"""Where tensors live: CUDA when present, else CPU; bf16 autocast only on CUDA."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from .errors import UserError


def resolve(name: str = "auto") -> torch.device:
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but CUDA is not available here (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (auto | cpu | cuda[:N])") from None


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op elsewhere (CPU bf16 is slower than fp32 on most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def one_cpu_thread(device: torch.device | None = None):
    """One intra-op thread for a block of many small CPU ops (decoding, SSIM blocks, a small CNN): waking a second
    thread per op cost more than it saved here, 5-10x more on a busy machine. Restores the count afterwards."""
    if device is not None and device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
