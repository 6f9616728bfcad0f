"""`nfgen pipeline`: every stage not yet done, in order, each resuming its own partial work."""

from __future__ import annotations

from typing import Callable

from .model.generator import run_sample, run_train
from .newrun import open_run
from .progress import rich_progress
from .stages.evaluate import run_eval
from .stages.fit import run_fit
from .tokens.stage import run_codebook
from .workspace import Workspace


def run_pipeline(ws: Workspace, name: str, preset: str | None = None, dataset: str | None = None,
                 overrides: list[str] | None = None, device: str | None = None, show_progress: bool = False,
                 force: bool = False, note: Callable[[str], None] = lambda _: None) -> dict:
    """`preset`, `dataset` and `overrides` make a new run (see newrun.open_run for an existing one)."""
    run = open_run(ws, name, preset, dataset, overrides or [], force=force, note=note)
    result: dict = {"run": name, "dir": str(run.dir)}
    for label, fn, kwargs in (("fit", run_fit, {}), ("codebook", run_codebook, {}), ("train", run_train, {}),
                              ("sample", run_sample, {"digit": None}), ("eval", run_eval, {})):
        with rich_progress(label, enabled=show_progress) as progress:
            result[label] = fn(run, progress=progress, device=device, **kwargs)
    result["grid"] = result["sample"].get("grid")
    return result
