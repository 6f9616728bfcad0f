"""Share the CPU cores among nfgen jobs that run at the same time.

Two background jobs that each use every core fight: OpenMP threads spin while the other job's threads hold the
cores. Measured on 2 cores, two concurrent fits ran at 7.6 fields/s each against 77 alone; with one thread each
they ran at 35 each (OMP_WAIT_POLICY=PASSIVE gave 34 each but cost 20 % when a job runs alone). So a job takes
`cores // jobs running` threads, re-counted every few seconds from its progress reports, and gets every core back
when it runs alone again. torch's thread count is per calling thread, so `update` must run on the stage's thread:
progress reports do.
"""

from __future__ import annotations

import time
from typing import Callable

RECHECK_S = 2.0


class CpuShare:
    def __init__(self, count_jobs: Callable[[], int], cores: int | None = None):
        import torch

        self._count_jobs = count_jobs
        self.cores = cores or torch.get_num_threads()
        self.threads = self.cores
        self._checked = float("-inf")

    def share(self, jobs: int) -> int:
        return max(1, self.cores // max(1, jobs))

    def update(self) -> None:
        """At most every RECHECK_S: count the running jobs and set this process's torch threads to its share."""
        now = time.monotonic()
        if now - self._checked < RECHECK_S:
            return
        self._checked = now
        threads = self.share(self._count_jobs())
        if threads != self.threads:  # only on a change: leaves alone a stage's own temporary setting
            import torch

            torch.set_num_threads(threads)
            self.threads = threads
