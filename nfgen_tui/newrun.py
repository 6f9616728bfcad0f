"""How `init` and `pipeline` flags become a run: the preset sized for the dataset's kind, a dataset that can load,
and, for a run that exists, refusing flags that would change its config (the run would silently ignore them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from . import config as cfgmod
from .errors import UserError
from .modality import dataset_info, for_dataset
from .workspace import STAGE_ORDER, Run, Workspace


def _kind(dataset: str) -> str:
    return for_dataset(dataset).nouns.kind


def matching_preset(preset: str, dataset: str) -> str:
    """The preset sized for `dataset`'s modality: `preset` itself, or its twin sized for the other modality (quick ↔
    quick3d, paper ↔ paper3d) when there is one."""
    have, want = for_dataset(cfgmod.preset(preset).data.dataset), for_dataset(dataset)
    twin = want.preset_twin(preset, have)
    return twin if twin in cfgmod.PRESETS else preset


def with_flags(c: cfgmod.Config, dataset: str | None, overrides: list[str]) -> cfgmod.Config:
    """`c` with `--dataset` and then the `--set` overrides applied, checked."""
    if dataset and dataset.strip():
        c.data.dataset = dataset.strip()
    return cfgmod.apply_overrides(c, overrides)


def resolve(preset: str | None, dataset: str | None, overrides: list[str],
            note: Callable[[str], None] = lambda _: None) -> tuple[cfgmod.Config, str]:
    """(config, preset used). Without `preset`, quick or its 3D twin, whichever is sized for the dataset (said through
    `note`, as the TUI's form does); a preset given for the other kind of data is refused."""
    name = preset or "quick"
    c = with_flags(cfgmod.preset(name), dataset, overrides)
    twin = matching_preset(name, c.data.dataset)
    if twin == name:
        return c, name
    if preset is not None:
        raise UserError(f"preset {preset} is sized for {_kind(cfgmod.preset(preset).data.dataset)}, but dataset "
                        f"{c.data.dataset} is {_kind(c.data.dataset)}: use --preset {twin}, or leave --preset out")
    note(f"preset {twin} (sized for {_kind(c.data.dataset)}; pass --preset to choose another)")
    return with_flags(cfgmod.preset(twin), dataset, overrides), twin


def check_dataset(ws: Workspace, c: cfgmod.Config) -> None:
    """Refuse a dataset the fit stage could not load, with `data list`'s hint (e.g. `nfgen data prepare NAME
    --download`), so the error comes now and not inside a background job."""
    info = dataset_info(c.data.dataset, Path(c.data.root) if c.data.root else ws.datasets_dir)
    if not info.available:
        raise UserError(info.hint or f"dataset {c.data.dataset!r} is not available (see `nfgen data list`)")


def create(ws: Workspace, name: str, preset: str | None, dataset: str | None, overrides: list[str],
           note: Callable[[str], None] = lambda _: None) -> tuple[Run, str]:
    """A new run from flags, every check done before anything is written; (run, preset used)."""
    ws.run(name)  # the name is checked first
    notes: list[str] = []
    c, used = resolve(preset, dataset, overrides, notes.append)
    check_dataset(ws, c)
    run = ws.create_run(name, c)
    for text in notes:  # said once the run exists: a refusal stays one line
        note(text)
    return run, used


SHOWN = 6  # changed keys named one by one


def config_changes(old: cfgmod.Config, new: cfgmod.Config) -> list[str]:
    """'key (old → new)' for each key whose value differs (the first SHOWN, then how many more)."""
    a, b = _flat(old.to_dict()), _flat(new.to_dict())
    changed = [f"{k} ({a[k]!r} → {b[k]!r})" for k in a if a[k] != b.get(k)]
    return changed[:SHOWN] + ([f"and {len(changed) - SHOWN} more"] if len(changed) > SHOWN else [])


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def open_run(ws: Workspace, name: str, preset: str | None, dataset: str | None, overrides: list[str],
             force: bool = False, note: Callable[[str], None] = lambda _: None) -> Run:
    """The run `pipeline` continues: created from the flags when new; when it exists, the flags must resolve to its
    config (a preset, dataset or --set it would ignore is refused, naming the keys) unless `force` starts it over."""
    run = ws.run(name)
    if not run.exists():
        return create(ws, name, preset, dataset, overrides, note)[0]
    old = run.config()
    if preset is None:  # no preset: the flags apply on top of the run's own config
        new = with_flags(old.copy(), dataset, overrides)
    else:
        new = resolve(preset, dataset, overrides)[0]
    changes = config_changes(old, new)
    if not changes:
        return run
    if not force:
        raise UserError(f"run {name!r} exists with another config; these flags would change {', '.join(changes)}: "
                        f"drop them to resume it, pick a new run name, or pass --force to delete its results and "
                        f"start over")
    running = [s for s in STAGE_ORDER if run.stage_state(s) == "running"]
    if running:
        raise UserError(f"run {name!r} is running {running[0]}: cancel it before starting it over with --force")
    check_dataset(ws, new)
    note(f"run {name} started over ({', '.join(changes)})")
    shutil.rmtree(run.dir)
    return ws.create_run(name, new)
