"""Progress of the eval stage over named phases, shared by every modality's evaluation."""

from __future__ import annotations

from ..progress import ProgressFn


class Phases:
    """`phases("what")` counts one phase done: progress(done, total, phase=…) and an `eval` event."""

    def __init__(self, run, progress: ProgressFn, total: int):
        self.run, self.progress, self.total, self.done = run, progress, total, 0

    def __call__(self, phase: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, phase=phase)
        self.run.log_event("eval", step=self.done, total=self.total, phase=phase)

    def finish(self) -> None:
        """A skipped baseline (too few held-out fields) leaves phases unused: end the bar at its total."""
        self.progress(self.total, self.total, phase="done")
