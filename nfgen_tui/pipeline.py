"""`nfgen pipeline`: every stage not yet done, in order, each resuming its own partial work."""

from __future__ import annotations

from . import config as cfgmod
from .progress import rich_progress
from .workspace import Workspace


def run_pipeline(ws: Workspace, name: str, preset: str = "quick", dataset: str | None = None,
                 overrides: list[str] | None = None, device: str | None = None, show_progress: bool = False) -> dict:
    from .fields.stage import run_fit
    from .metrics.stage import run_eval
    from .model.generator import run_sample, run_train
    from .tokens.stage import run_codebook

    run = ws.run(name)
    if not run.exists():
        c = cfgmod.preset(preset)
        if dataset:
            c.data.dataset = dataset
        cfgmod.apply_overrides(c, overrides or [])
        ws.create_run(name, c)
    result: dict = {"run": name, "dir": str(run.dir)}
    for label, fn, kwargs in (("fit", run_fit, {}), ("codebook", run_codebook, {}), ("train", run_train, {}),
                              ("sample", run_sample, {"digit": None}), ("eval", run_eval, {})):
        with rich_progress(label, enabled=show_progress) as progress:
            result[label] = fn(run, progress=progress, device=device, **kwargs)
    result["grid"] = result["sample"].get("grid")
    return result
