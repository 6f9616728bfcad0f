"""The fit stage's files, shared by the ordinary fitter (`stages/fit.py`) and the subspace fitter (subspace.py) so
both modes select, tag and check files alike: a file's safetensors metadata carries the key of everything that
decided its content and the rows it holds, and a file whose tag does not match is refitted, never reused. The
stored layout's reader (`load_layout`) and the way out of a refused fit-stage file (`refit_hint`) are here too, for
every later stage."""

from __future__ import annotations

import hashlib
import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..distributed import Ranks
from ..errors import UserError
from ..workspace import Run, atomic_path, read_json
from .init import seeded_init
from .layout import Layout


def refit_hint(run: Run) -> str:
    """The way out of a refused fit-stage file."""
    return f"refit with `nfgen fit {run.name} --force`"


def load_layout(run: Run) -> Layout:
    """The fit stage's `layout.json`: the one reader every later stage uses."""
    path = run.stage_dir("fit") / "layout.json"
    try:
        return Layout.from_dict(read_json(path, refit_hint(run)))
    except UserError as e:
        if str(e).startswith(("missing file", "corrupt JSON", str(path))):
            raise
        raise UserError(f"{path}: {e}; {refit_hint(run)}") from None


def chunk_key(cfg, layout: Layout, n: int, chunk: int) -> str:
    """A digest of everything that decides a chunk's content."""
    parts = {"fields": cfg.to_dict()["fields"], "data": cfg.to_dict()["data"], "seed": cfg.seed, "n": n,
             "chunk": chunk, "layout": layout.to_dict()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def save_tagged(path, tensors: dict, meta: dict) -> None:
    """Write tensors atomically with their tag (key, start, stop, …) as safetensors metadata."""
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def tag_of(path) -> dict | None:
    """A file's tag, or None when it is missing or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception:  # missing, truncated or foreign: not a completed chunk
        return None


def is_tagged(path, key: str, start: int, stop: int) -> bool:
    """Whether the file holds rows start..stop made under `key`: a completed chunk to keep."""
    meta = tag_of(path)
    return meta is not None and meta.get("key") == key and meta.get("start") == str(start) \
        and meta.get("stop") == str(stop)


def shared_init(run: Run, fc, seed: int, layout: Layout, key: str, rk: Ranks, fit_first,
                quality_name: str = "psnr") -> torch.Tensor | None:
    """The common starting weights [P] (None for `random`); computed once by rank 0 and stored for resumes.
    `fit_first(start [1, P])` fits the first field: (weights [1, P], quality [1], loss)."""
    if fc.init == "random":
        return None
    path = run.stage_dir("fit") / "init.safetensors"
    if rk.is_main and not is_tagged(path, key, 0, 1):
        start = seeded_init(layout, seed, 0)
        if fc.init == "first":  # the reference's answer: fit image 0, start every field from its weights
            weights, quality, loss = fit_first(start)
            start = weights[0]
            run.log_event("fit", event="init", init=fc.init, loss=loss, **{quality_name: float(quality[0])})
        save_tagged(path, {"init": start.contiguous()}, {"key": key, "start": "0", "stop": "1", "mode": fc.init})
    rk.barrier()
    return load_file(str(path))["init"]
