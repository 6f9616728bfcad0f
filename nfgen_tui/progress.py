"""Progress reporting that core stages can call without knowing who listens.

A stage calls `progress(done, total, **info)`; the CLI shows a rich bar on stderr, a job writes to its log, a test
passes nothing. `info` carries live figures (loss, fields/s, tokens/s) for the bar's description.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol


class ProgressFn(Protocol):
    def __call__(self, done: float, total: float, **info) -> None: ...


_listeners: list[Callable[[], None]] = []


def add_listener(fn: Callable[[], None]) -> None:
    """Call `fn()` at every report of every bar (on the stage's own thread; jobs share the CPU cores this way)."""
    _listeners.append(fn)


def _notify() -> None:
    for fn in _listeners:
        fn()


def null_progress(done: float, total: float, **info) -> None:
    return None


def count_text(done: float, total: float) -> str:
    """Whole units done of the total, and the percentage: stages report fractional progress (a chunk part-way
    through its steps), but a count of fields, steps or samples reads as an integer."""
    total_i = max(int(round(total)), 0)
    done_i = min(int(done + 1e-9), total_i) if total_i else int(done + 1e-9)
    pct = f" ({100.0 * done / total:.0f}%)" if total > 0 else ""
    return f"{done_i}/{total_i}{pct}"


class _Rate:
    """Units per second since the first report (a resumed stage's first report already counts its skipped part)."""

    def __init__(self):
        self.start: tuple[float, float] | None = None

    def __call__(self, done: float) -> float | None:
        now = time.monotonic()
        if self.start is None:
            self.start = (now, done)
            return None
        t0, d0 = self.start
        return (done - d0) / (now - t0) if now > t0 and done > d0 else None


def status_text(done: float, total: float, rate: float | None, info: dict) -> str:
    """'20/300 (7%)  4.1/s  loss 0.01': the rate is left out when the stage reports its own in the same unit."""
    parts = [count_text(done, total)]
    if rate is not None and not any(k.endswith("per_s") for k in info):
        parts.append(f"{rate:.3g}/s")
    if info:
        parts.append(_fmt(info))
    return "  ".join(parts)


def _fmt(info: dict) -> str:
    parts = []
    for k, v in info.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.4g}")
        else:
            parts.append(f"{k} {v}")
    return "  ".join(parts)


@contextmanager
def rich_progress(label: str, enabled: bool = True) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr (plain periodic lines when stderr is not a terminal)."""
    if not enabled:
        yield null_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        last = [0.0]
        rate = _Rate()

        def plain(done, total, **info):
            _notify()
            per_s = rate(done)
            now = time.monotonic()
            if now - last[0] >= 5.0 or done >= total:
                last[0] = now
                print(f"{label}: {status_text(done, total, per_s, info)}", file=sys.stderr, flush=True)

        yield plain
        return

    with Progress(TextColumn("[bold]{task.fields[label]}"), BarColumn(), TextColumn("{task.fields[count]}"),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console, transient=False) as bar:
        task = bar.add_task(label, total=None, label=label, info="", count="")
        rate = _Rate()

        def update(done, total, **info):
            _notify()
            per_s = rate(done)
            text = status_text(done, total, per_s, info)
            count, _, rest = text.partition("  ")
            bar.update(task, completed=done, total=total, count=count, info=rest)

        yield update
