"""One intra-op thread for the many small tensor ops of evaluation on a CPU.

Measured on the shared 2-core machine under load: torch's intra-op threads wait at a barrier after every small op,
so two threads ran the SSIM blocks ~10x and the classifier's training ~9x slower than one (74 s vs 8 s). SSIM gets
its parallelism from worker threads over independent blocks instead.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def one_intraop_thread(device: torch.device | None = None) -> Iterator[None]:
    """Set torch's intra-op threads to 1 for the block (CPU only); restore the previous count afterwards."""
    if device is not None and device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
