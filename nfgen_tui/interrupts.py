"""How a stop request reaches a stage: the one home for SIGTERM / SIGINT handling.

Three policies, one per kind of process, so a cancelled job always ends the same way (cleanup runs, the stage logs
"interrupted", nothing half-written is left):
- `stage_process_handlers` — a job's stage process (jobs.py): the first SIGTERM becomes KeyboardInterrupt, later
  ones are ignored so the stage's own cleanup is not cut short; SIGHUP (a closed SSH session) is ignored.
- `stop_requests` — a loop that can stop cleanly (train): a signal sets a flag the loop polls, so it checkpoints
  and returns; a second signal interrupts at once.
- `sigterm_interrupts` — a stage whose finished parts are already on disk (sweep): SIGTERM raises at once.
Handlers can only be installed from the main thread; elsewhere (a stage run from a TUI worker) these do nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def stage_process_handlers() -> None:
    """For the whole life of a job's stage process (not a context: the process ends with the stage)."""

    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """SIGTERM / SIGINT set a flag the loop polls, so it checkpoints and returns; a second signal interrupts."""
    if not _main_thread():
        yield lambda: False
        return
    flag = threading.Event()
    sigs = (signal.SIGTERM, signal.SIGINT)
    old = {s: signal.getsignal(s) for s in sigs}

    def handler(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    for s in sigs:
        signal.signal(s, handler)
    try:
        yield flag.is_set
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def sigterm_interrupts(what: str) -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt(f"{what} stopped by SIGTERM") while inside the block."""
    if not _main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"{what} stopped by SIGTERM")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
