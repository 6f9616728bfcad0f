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

        def plain(done, total, **info):
            _notify()
            now = time.monotonic()
            if now - last[0] >= 5.0 or done >= total:
                last[0] = now
                print(f"{label}: {done:g}/{total:g}  {_fmt(info)}", file=sys.stderr, flush=True)

        yield plain
        return

    with Progress(TextColumn("[bold]{task.fields[label]}"), BarColumn(), TextColumn("{task.completed:g}/{task.total:g}"),
                  TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console, transient=False) as bar:
        task = bar.add_task(label, total=None, label=label, info="")

        def update(done, total, **info):
            _notify()
            bar.update(task, completed=done, total=total, info=_fmt(info))

        yield update
