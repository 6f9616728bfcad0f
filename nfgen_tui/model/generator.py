"""The generators behind `model.kind`: one stage module per kind, with the same entry points.

Each module offers `run_train(run, progress, device, iters, force)`, `run_sample(run, progress, device, digit, n,
seed, size, cfg, …its own settings)`, `load_trained(run, device)`, `default_sample_id(cfg, step)` and
`class_count(run)`; the CLI, the pipeline, eval and the TUI call them through here, so a new generator is a new
module plus one line below.
For `nfgen sweep` each also offers `SWEEP_AXES` (run_sweep's axis arguments it takes → their flags), `SWEEP_FIELDS`
(the sample.* fields a cell's setting sets, for --apply), `sweep_settings(run, cfg, axes)` (its grid, defaults for the
axes not given) and `sweep_sampler(run, device)` (a `SweepSampler`).
Both kinds share `transformer/` (one trained generator per run): a checkpoint records its kind, and the other kind
refuses it with the way out.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable, NamedTuple

from ..errors import UserError

MODULES = {"gpt": "nfgen_tui.model.stage", "diffusion": "nfgen_tui.model.diffusion.stage"}


class SweepSampler(NamedTuple):
    """A loaded generator as the sweep uses it: `weights(setting, labels, seed, batch_size, progress)` → fields
    [N, P] float32, drawn exactly as `nfgen sample` draws them with that setting and seed."""
    weights: Callable
    state: dict  # the checkpoint's state.json (step, hashes)
    n_classes: int
    identity: dict  # what else a stored cell must match, beside the sweep's own identity


def generator(kind: str) -> ModuleType:
    if kind not in MODULES:
        raise UserError(f"unknown model.kind {kind!r}: choose one of {', '.join(MODULES)}")
    return importlib.import_module(MODULES[kind])


def of_run(run) -> ModuleType:
    """The stage module of the run's configured generator."""
    return generator(run.config().model.kind)


def run_train(run, **kwargs) -> dict:
    return of_run(run).run_train(run, **kwargs)


def run_sample(run, **kwargs) -> dict:
    return of_run(run).run_sample(run, **kwargs)


def class_names(run) -> list[str]:
    """The classes a run samples, label i first (`nfgen sample --digit i`): as many as its generator accepts
    (`class_count`), named by its dataset (unnamed ones, e.g. a dataset folder renamed since, by number); the
    dataset's names alone before the generator's files exist, or when they are unreadable (sampling reports that)."""
    from ..data.datasets import class_names as dataset_class_names

    cfg = run.config()
    try:
        names = dataset_class_names(cfg.data.dataset)
    except UserError:  # a folder dataset moved away: number the classes
        names = []
    try:
        n = generator(cfg.model.kind).class_count(run)
    except UserError:
        n = None
    return names if n is None else [names[i] if i < len(names) else str(i) for i in range(n)]


def default_sample_id(run, cfg, step: int) -> str:
    """samples/<id> of `nfgen sample RUN` with the config's settings at checkpoint `step`."""
    return generator(cfg.model.kind).default_sample_id(cfg, step)


def check_kind(saved: dict, kind: str, where, run_name: str) -> None:
    """Refuse a checkpoint or report of another generator (files from before kinds existed are the GPT's)."""
    theirs = saved.get("kind", "gpt")
    if theirs != kind:
        raise UserError(f"{where} holds a {theirs} generator, the config says model.kind = {kind}: set model.kind "
                        f"back to {theirs}, or rerun `nfgen train {run_name} --force` to train a {kind} from scratch")
