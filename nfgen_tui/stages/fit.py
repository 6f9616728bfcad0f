"""Stage 1, `nfgen fit RUN`: one field per selected image (train and held out), fitted in resumable chunks.

Files (docs/contracts.md): `fields/layout.json`, `fields/init.safetensors` (the shared start), one
`fields/chunks/chunk_NNNNN.safetensors` per completed chunk (atomic; tagged with a key of everything that decides
its content, so a stale or foreign chunk is refitted, never reused), then `fields/weights.safetensors` and, last,
`fields/report.json`. A rerun after a kill skips the completed chunks; every chunk depends only on its images and
the seeded init, so the result equals an uninterrupted run.

What a field is fitted to (images, or shapes' occupancy samples) is the modality's business
(`nfgen_tui.modality`, chosen from `data.dataset`); this module only chunks, stores and resumes.
"""

from __future__ import annotations

import contextlib
import shutil
import time

import numpy as np
import torch
from safetensors.torch import load_file

from .. import device as devmod
from ..errors import UserError
from ..progress import ProgressFn, null_progress
from ..workspace import Run, atomic_write_json, atomic_write_text, read_json
from ..distributed import Ranks, rank_device, ranks
from ..fields.fit_files import chunk_key, is_tagged, refit_hint, save_tagged, shared_init
from ..fields.init import chunk_init, weight_spread
from ..fields.layout import Layout, layout_from_config
from ..fields.subspace import fit_subspace
from ..modality import for_dataset, for_layout

LOG_EVERY = 25  # steps between events / progress updates


def run_fit(run: Run, progress: ProgressFn = null_progress, device: str | None = None, force: bool = False) -> dict:
    """Fit every field of the run (or return the stored report when done and not `force`)."""
    cfg = run.config()
    report_path = run.stage_dir("fit") / "report.json"
    if run.is_done("fit") and not force:
        return read_json(report_path, refit_hint(run))
    dev = rank_device(devmod.resolve(device or cfg.device))
    with ranks(dev) as rk:
        with run.stage("fit") if rk.is_main else contextlib.nullcontext():
            if cfg.fields.subspace:  # fields fitted in a shared subspace: their own module
                return fit_subspace(run, cfg, dev, rk, progress, force, for_dataset(cfg.data.dataset))
            return _fit(run, cfg, dev, rk, progress, force)


def _fit(run: Run, cfg, dev: torch.device, rk: Ranks, progress: ProgressFn, force: bool) -> dict:
    t0, started = time.perf_counter(), time.time()
    fdir = run.stage_dir("fit")
    fc = cfg.fields
    if force and rk.is_main:
        for name in ("report.json", "weights.safetensors", "init.safetensors", "layout.json"):
            (fdir / name).unlink(missing_ok=True)
        shutil.rmtree(fdir / "chunks", ignore_errors=True)
    rk.barrier()

    mod = for_dataset(cfg.data.dataset)
    layout = layout_from_config(fc, mod.dim, mod.target)
    data = mod.load(cfg, cfg.data.root or run.workspace.datasets_dir)
    labels, split = data.labels, data.split
    n = len(labels)
    chunk = fc.gpu_chunk_size if dev.type == "cuda" else fc.chunk_size
    key = chunk_key(cfg, layout, n, chunk)
    if rk.is_main:
        atomic_write_text(fdir / "layout.json", layout.to_json())

    def fit(start, stop, init, on_step=None):
        return mod.fit(data, start, stop, init, layout, fc, cfg.seed, dev, on_step=on_step, log_every=LOG_EVERY)

    template = shared_init(run, fc, cfg.seed, layout, key, rk, lambda start: fit(0, 1, start.unsqueeze(0)),
                            mod.quality)

    bounds = [(k, s, min(s + chunk, n)) for k, s in enumerate(range(0, n, chunk))]
    mine = bounds[rk.rank::rk.world]
    total = sum(b - a for _, a, b in mine)
    done, fitted = 0, 0
    t_fit = time.perf_counter()
    for k, start, stop in mine:
        path = fdir / "chunks" / f"chunk_{k:05d}.safetensors"
        if is_tagged(path, key, start, stop):
            done += stop - start
            progress(done, total)
            continue
        init = chunk_init(fc.init, layout, cfg.seed, start, stop, template)

        def on_step(step, loss, k=k, base=done, size=stop - start):
            rate = (fitted + size * step / fc.steps) / max(time.perf_counter() - t_fit, 1e-9)
            run.log_event("fit", chunk=k, step=step, loss=round(loss, 6), rank=rk.rank,
                          total=len(mine) * fc.steps, fields_per_s=round(rate, 2))  # steps laid end to end
            progress(base + size * step / fc.steps, total, loss=loss, fields_per_s=rate)

        weights, quality, _ = fit(start, stop, init, on_step)
        save_tagged(path, {"weights": weights.contiguous(), mod.quality: quality.float().contiguous()},
              {"key": key, "start": str(start), "stop": str(stop)})
        done += stop - start
        fitted += stop - start
    rk.barrier()

    if rk.is_main:
        report = _merge(run, cfg, layout, bounds, chunk, key, labels, split, dev, rk, started,
                        seconds=time.perf_counter() - t0, quality_name=mod.quality)
    rk.barrier()
    return report if rk.is_main else read_json(fdir / "report.json")


def _merge(run: Run, cfg, layout: Layout, bounds, chunk: int, key: str, labels, split, dev, rk: Ranks,
           started: float, seconds: float, quality_name: str = "psnr") -> dict:
    fdir = run.stage_dir("fit")
    parts, fitted, resumed = [], 0, 0
    for k, start, stop in bounds:
        path = fdir / "chunks" / f"chunk_{k:05d}.safetensors"
        if not is_tagged(path, key, start, stop):
            raise RuntimeError(f"chunk {k} missing after fitting: {path}")
        parts.append(load_file(str(path)))
        if path.stat().st_mtime >= started:  # written by this invocation (any rank)
            fitted += stop - start
        else:
            resumed += 1
    weights = torch.cat([p["weights"] for p in parts]).float().contiguous()
    q = quality_name
    quality = torch.cat([p[q] for p in parts]).float().contiguous()
    save_tagged(fdir / "weights.safetensors",
          {"weights": weights, "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)),
           "split": torch.as_tensor(np.asarray(split, dtype=np.int64)), q: quality},
          {"key": key})
    report = {
        "n_fields": int(weights.shape[0]),
        "n_params": layout.n_params,
        "modality": for_layout(layout).name,
        f"{q}_mean": round(float(quality.mean()), 3),
        f"{q}_p10": round(float(quality.quantile(0.1)), 3),
        f"{q}_min": round(float(quality.min()), 3),
        "seconds": round(seconds, 2),
        "fields_per_s": round(fitted / seconds, 2) if fitted else None,  # this invocation's fields, all ranks
        "fitted_now": fitted,
        "resumed_chunks": resumed,
        "device": str(dev),
        "world_size": rk.world,
        "arch": layout.arch,
        "init": cfg.fields.init,
        "weight_spread": round(weight_spread(weights), 5),
        "steps": cfg.fields.steps,
        "lr": cfg.fields.lr,
        "schedule": cfg.fields.schedule,
        "chunk_size": chunk,
    }
    atomic_write_json(fdir / "report.json", report)  # last: the stage is done
    run.log_event("fit", event="report", **{k: report[k] for k in ("n_fields", f"{q}_mean", "seconds")})
    return report
