"""`run_sweep`: sample and score every (temperature, top-k, top-p, cfg) cell with one model load, into eval/sweep.json.

The run's generator (model/generator.py) says which axes there are and samples a cell: the GPT's temperature, top-k,
top-p, cfg and schedule, or a diffusion run's DDIM steps, eta and cfg (its declared `sweep_grid`, grid.py or
ddim_grid.py, and the `sweep_sampler` of its stage module). Everything else — the generated set's draw, the
reference, the classifier, the metrics, the rule, resuming by cell key — is this module's, the same for both.

Every cell is sampled with the same seed by the sampler `nfgen sample` uses (so a cell's digits are exactly those of
`nfgen sample RUN --n N --temperature T --top-k K --top-p P --cfg S --seed S`), rendered at 28 px, and scored by the eval
stage's own code against one reference set (run_eval's: a class-balanced prefix of it when the sweep's sets are
smaller). sweep.json is rewritten after each cell; a later call with the same model and settings skips the cells
already there, so an interrupted sweep resumes at the next unfinished cell.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

from .. import config as cfgmod
from .. import device as devmod
from ..data import load_dataset, select
from ..errors import UserError
from ..interrupts import sigterm_interrupts
from ..metrics.sets import balanced_subset
from ..metrics.ssim import ssim_distance_matrix
from ..modality import for_dataset
from ..modality.image2d.classifier import get_classifier
from ..modality.image2d.evaluate import reference_set, render_for_eval, score_set
from ..model.generator import GENERATORS, declared
from ..progress import ProgressFn, null_progress
from ..tokens.stage import load_fields
from ..workspace import Run, atomic_path, atomic_write_bytes, atomic_write_json, read_json, read_tensors
from .grid import RULE, best_cell, grid_axes

LOCK = "sweep"  # a lock name of its own: a sweep may run beside `nfgen sample` and `nfgen eval`


def sweep_path(run: Run) -> Path:
    return run.stage_dir("eval") / "sweep.json"


def cells_dir(run: Run) -> Path:
    """One safetensors file per cell: its 28 px images (uint8) and labels, for the sample strips."""
    return run.stage_dir("eval") / "sweep"


def load_sweep(run: Run) -> dict | None:
    """The stored sweep (see run_sweep's result), or None when the run has none yet."""
    path = sweep_path(run)
    return read_json(path, f"rerun `nfgen sweep {run.name} --force`") if path.exists() else None


def load_cell_images(run: Run, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 [N, 28, 28] in [0, 1], labels [N]) of one finished cell."""
    path = cells_dir(run) / f"{key}.safetensors"
    if not path.exists():
        raise UserError(f"no stored images for sweep cell {key!r} ({path}); run the sweep again")
    t = read_tensors(path, f"rerun `nfgen sweep {run.name} --force`", keys=("images", "labels"))
    return t["images"].numpy().astype(np.float32) / 255.0, t["labels"].numpy()


def run_sweep(run: Run, progress: ProgressFn = null_progress, device: str | None = None,
              temperatures=None, top_ks=None, top_ps=None, n_per_class: int | None = None, seed: int | None = None,
              force: bool = False, cfgs=None, cfg_schedules=None, steps=None, etas=None) -> dict:
    """Score every cell of the grid; returns the sweep record (also in eval/sweep.json).

    An axis left at None takes the generator's default (the GPT: DEFAULT_* above; diffusion: cfg 1, 1.5, 2, 3 for a
    model trained with the null class, else 1, × sample.steps × sample.eta); an axis of the other generator, given,
    is a user error. `n_per_class` defaults to sample.n_per_class (then the reference is exactly run_eval's), `seed`
    to the run's; `force` recomputes stored cells."""
    run.require()
    cfg = run.config()

    if not for_dataset(cfg.data.dataset).sweeps:
        raise UserError(f"nfgen sweep scores images and run {run.name!r} fits {cfg.data.dataset!r} (3D shapes): "
                        f"sweeps of 3D runs are not built yet; sample by hand with `nfgen sample {run.name} "
                        f"--temperature T --top-p P`")
    declaration = declared(cfg.model.kind)
    gen = declaration.stage()
    given = {"temperatures": temperatures, "top_ks": top_ks, "top_ps": top_ps, "cfgs": cfgs,
             "cfg_schedules": cfg_schedules, "steps": steps, "etas": etas}
    _refuse_foreign_axes(run, declaration, given)
    settings = declaration.sweep_settings(run, cfg, {k: v for k, v in given.items() if k in declaration.sweep_axes})
    n_per_class = cfg.sample.n_per_class if n_per_class is None else int(n_per_class)
    seed = cfg.seed if seed is None else int(seed)
    if n_per_class <= 0:
        raise UserError(f"--n-per-class must be > 0, got {n_per_class}")
    dev = devmod.resolve(device or cfg.device)
    with run.stage(LOCK), sigterm_interrupts("sweep"):
        return _sweep(run, cfg, gen, settings, n_per_class, seed, dev, progress, force)


def _refuse_foreign_axes(run: Run, declaration, given: dict) -> None:
    """An axis the run's generator does not have (--top-k on a diffusion run, --steps on a GPT run), given
    explicitly: refused before anything is loaded, naming the axes the run does have."""
    flags = {axis: flag for g in GENERATORS.values() for axis, flag in g.sweep_axes.items()}
    own = declaration.sweep_axes
    foreign = [flags[k] for k, v in given.items() if v is not None and k not in own]
    if foreign:
        raise UserError(f"{', '.join(foreign)}: not a sweep axis of run {run.name!r} (model.kind = "
                        f"{declaration.kind}); its axes are {', '.join(own.values())}")


def _identity(cfg, state: dict, n_per_class: int, seed: int) -> dict:
    """What must match for a stored cell to count as finished: the model, the sets and how they are scored."""
    return {"step": int(state["step"]), "model_sha256": (state.get("sha256") or {}).get("model.safetensors"),
            "n_per_class": n_per_class, "seed": seed, "batch_size": cfg.sample.batch_size, "run_seed": cfg.seed,
            "data": {"dataset": cfg.data.dataset, "limit": cfg.data.limit, "holdout": cfg.data.holdout},
            "eval": dict(cfg.eval.__dict__)}


def _sweep(run: Run, cfg, gen, settings: list, n_per_class: int, seed: int, dev: torch.device,
           progress: ProgressFn, force: bool) -> dict:
    t0 = time.perf_counter()
    sampler = gen.sweep_sampler(run, dev)  # one load for every cell
    identity = {**_identity(cfg, sampler.state, n_per_class, seed), **sampler.identity}
    stored = None if force else load_sweep(run)
    cells: dict[str, dict] = dict(stored["cells"]) if stored and stored.get("identity") == identity else {}
    todo = [s for s in settings if s.key not in cells]
    total = len(settings)
    progress(total - len(todo), total, phase="load")

    ec, mode = cfg.eval, cfg.eval.ssim
    labels = torch.arange(sampler.n_classes).repeat_interleave(n_per_class)
    weights, field_labels, split, layout = load_fields(run)
    n_train_fields = int((split == 0).sum())
    n = min(ec.set_size, len(labels), n_train_fields)
    if n < 2:
        raise UserError(f"too few images for a sweep: {len(labels)} per cell, {n_train_fields} training fields")
    gen_pick = torch.as_tensor(balanced_subset(labels.numpy(), n, cfg.seed + 1))  # run_eval's draw of a generated set

    record = {"grid": grid_axes(settings), "settings": [s.as_dict() | {"key": s.key} for s in settings],
              "rule": RULE, "n_per_class": n_per_class, "seed": seed, "n_generated": n, "n_reference": n,
              "n_per_cell": int(len(labels)), "ssim": mode, "memorization_threshold": ec.memorization_threshold,
              "step": identity["step"], "identity": identity, "device": str(dev)}

    def save(done: bool) -> dict:
        chosen = best_cell([cells[s.key] for s in settings if s.key in cells])
        out = {**record, "cells": cells, "complete": done, "best": None if chosen is None else
               type(settings[0]).best_entry(chosen),
               "seconds": round(time.perf_counter() - t0, 2)}
        atomic_write_json(sweep_path(run), out)
        return out

    if not todo:
        record["n_train_images"] = stored.get("n_train_images") if stored else None
        return save(True)
    cfg_root = cfg.data.root or run.workspace.datasets_dir
    ds = load_dataset(cfg.data.dataset, cfg_root)
    images, _, img_split = select(ds, cfg.data.limit, cfg.data.holdout, cfg.seed)
    train_images = images[img_split == 0]
    ref_images, _ = reference_set(weights, field_labels, split, layout, n, cfg.seed, dev)
    classifier, _ = get_classifier(run.workspace, cfg.data.dataset, epochs=ec.classifier_epochs, seed=cfg.seed,
                                   device=dev, root=cfg_root, loaded=ds)
    rr = ssim_distance_matrix(ref_images, None, mode, dev)
    record["n_train_images"] = int(len(train_images))

    for s in settings:
        if s.key in cells:
            continue
        done_before = sum(1 for x in settings if x.key in cells)
        c0 = time.perf_counter()
        twin = _greedy_twin(s, cells, run)
        if twin is not None:  # top-k = 1 draws the same tokens at every T and top-p: score them once
            _copy_cell_images(run, twin["key"], s.key)
            cells[s.key] = {**twin, **s.as_dict(), "key": s.key, "same_as": twin["key"], "sample_seconds": 0.0,
                            "seconds": round(time.perf_counter() - c0, 2)}
            save(_log_cell(run, cells, settings, s.key, total, progress))
            continue

        def sample_progress(d, t, base=done_before, key=s.key):
            progress(base + 0.8 * d / max(t, 1), total, cell=key, phase="sample")

        weights_s = sampler.weights(s, labels, seed, cfg.sample.batch_size, sample_progress)
        sample_s = time.perf_counter() - c0
        imgs = render_for_eval(weights_s, layout, dev)
        progress(done_before + 0.85, total, cell=s.key, phase="score")
        row, _, _ = score_set(imgs[gen_pick], labels[gen_pick], ref_images, rr, train_images, classifier, mode,
                              ec.memorization_threshold, dev)
        _save_cell_images(run, s.key, imgs, labels)
        cells[s.key] = {**s.as_dict(), "key": s.key, **row, "sample_seconds": round(sample_s, 2),
                        "samples_per_s": round(len(labels) / max(sample_s, 1e-9), 2),
                        "seconds": round(time.perf_counter() - c0, 2)}
        save(_log_cell(run, cells, settings, s.key, total, progress))
    result = save(True)
    if result["best"]:
        run.log_event("sweep", best=result["best"]["key"], rule=RULE)
    return result


def _log_cell(run: Run, cells: dict, settings: list, key: str, total: int, progress: ProgressFn) -> bool:
    """Event and progress for a finished cell; True when it was the last one."""
    finished = sum(1 for x in settings if x.key in cells)
    c = cells[key]
    run.log_event("sweep", step=finished, total=total, cell=key, nna=c["nna"], mmd=c["mmd"], cov=c["cov"],
                  classifier_accuracy=c["classifier_accuracy"], memorization_rate=c["memorization_rate"],
                  samples_per_s=c["samples_per_s"])
    progress(finished, total, cell=key, nna=c["nna"], acc=c["classifier_accuracy"])
    return finished == total


def _greedy_twin(s, cells: dict, run: Run) -> dict | None:
    """A finished top-k = 1 cell (sampled, not itself a copy) whose draw `s` would repeat: with one token left
    per step, temperature and top-p change nothing and the Gumbel noise is the same for the same seed. (Diffusion
    settings have no top-k: no twins.)"""
    if getattr(s, "top_k", None) != 1:
        return None
    for c in cells.values():
        same_guidance = (c.get("cfg", 1.0), c.get("cfg_schedule", "constant")) == (s.cfg, s.cfg_schedule)
        if c.get("top_k") == 1 and same_guidance and "same_as" not in c and \
                (cells_dir(run) / f"{c['key']}.safetensors").exists():
            return c
    return None


def _copy_cell_images(run: Run, src: str, dst: str) -> None:
    atomic_write_bytes(cells_dir(run) / f"{dst}.safetensors", (cells_dir(run) / f"{src}.safetensors").read_bytes())


def _save_cell_images(run: Run, key: str, imgs: np.ndarray, labels: torch.Tensor) -> None:
    u8 = np.clip(np.rint(imgs * 255.0), 0, 255).astype(np.uint8)
    with atomic_path(cells_dir(run) / f"{key}.safetensors") as p:
        save_file({"images": u8, "labels": labels.numpy().astype(np.int64)}, str(p))


def apply_setting(run: Run, setting: dict) -> dict:
    """Make `setting` the run's default sampling setting in config.toml: the sample.* fields of the run's generator
    (the GPT: temperature, top_k, top_p, cfg, cfg_schedule; diffusion: steps, eta, cfg).

    The one place a later command rewrites config.toml: the user asked for it (`nfgen sweep … --apply`). The default
    sample, and so `nfgen eval`, then follow the new setting."""
    cfg = run.config()
    fields = declared(cfg.model.kind).sweep_fields  # name → (type, value when the setting lacks it, or None)

    def now() -> dict:
        return {k: getattr(cfg.sample, k) for k in fields}

    before = now()
    for k, (conv, default) in fields.items():
        if k not in setting and default is None:
            raise UserError(f"setting {setting.get('key', setting)!r} has no {k}: it is not a sweep cell of run "
                            f"{run.name!r} (model.kind = {cfg.model.kind})")
        setattr(cfg.sample, k, conv(setting.get(k, default)))
    cfgmod.validate(cfg)
    run.write_config(cfg)  # atomic (temp file + rename)
    after = now()
    run.log_event("sweep", event="apply", before=before, after=after)
    return {"before": before, "after": after, "config": str(run.config_path)}
