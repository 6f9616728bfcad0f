"""One sampling request of a generator, the same for every kind: its folder id, a stored request returned as is, the
stage lock, the seeded batches, and the sample folder's files, event and result.

The GPT (model/stage.py) and the denoiser (model/diffusion/stage.py) differ only in how a batch is drawn and in the
settings they record, so a third generator brings those two and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..fields.fit_files import load_layout
from ..progress import ProgressFn
from ..workspace import Run, read_json
from .sample_files import write_sample_files

SEED_STRIDE = 1_000_003  # batch b of a request is seeded seed·SEED_STRIDE + b


def sample_id(digit: int | None, n: int, settings: str, seed: int, size: int, step: int) -> str:
    """`all-n30-<settings>-s0-px28-step5000`: a folder name made of the request and the model's step, so the same
    request lands in the same folder (`settings` is the generator's own part, e.g. `t0.8-k3-p1` or `ddim50-eta0`)."""
    who = "all" if digit is None else f"d{digit}"
    return f"{who}-n{n}-{settings}-s{seed}-px{size}-step{step}"


def stored_or_sampled(run: Run, sid: str, sample: Callable[[Path], dict]) -> dict:
    """The stored sample `sid` as it is (`cached`: True), or else `sample(folder)` under the sample stage's lock."""
    out = run.stage_dir("sample") / sid
    if (out / "meta.json").exists():
        meta = read_json(out / "meta.json", f"move {out} away to sample again")
        return {"dir": str(out), "n": meta["n"], "grid": str(out / "grid.png"), "id": sid, "cached": True}
    with run.stage("sample"):
        return sample(out)


def class_labels(n_classes: int, digit: int | None, n: int) -> torch.Tensor:
    """`n` of each class (or of `digit` alone), class by class."""
    classes = range(n_classes) if digit is None else [digit]
    return torch.tensor([c for c in classes for _ in range(n)], dtype=torch.long)


def seeded_batches(labels: torch.Tensor, batch_size: int, seed: int, progress: ProgressFn,
                   draw: Callable[[torch.Tensor, int, Callable], torch.Tensor]) -> torch.Tensor:
    """`draw(batch labels, batch seed, step_progress(i, steps))` over batches of `batch_size`, concatenated on the CPU:
    the same request on the same model draws the same result (run_sample and the sweep share it)."""
    parts, total = [], labels.shape[0]
    for b, chunk in enumerate(torch.split(labels, batch_size)):
        done = b * batch_size

        def step_progress(i, steps, done=done, m=chunk.shape[0]):
            progress(done + m * i / steps, total)

        parts.append(draw(chunk, seed * SEED_STRIDE + b, step_progress).cpu())
    return torch.cat(parts)


def store_sample(run: Run, out: Path, sid: str, weights: torch.Tensor, labels: torch.Tensor, digit: int | None,
                 sc, seed: int, step: int, seconds: float, settings: dict, progress: ProgressFn,
                 tokens: torch.Tensor | None = None) -> dict:
    """Render and write the sample folder (meta.json: the request, the generator's `settings`, the timing), log the
    `sample` event, and return run_sample's result."""
    total = labels.shape[0]
    meta = {"id": sid, "digit": digit, "labels": labels.tolist(), "n": total, "n_per_class": sc.n_per_class,
            **settings, "seed": seed, "size": sc.size, "step": step, "seconds": round(seconds, 3),
            "samples_per_s": round(total / max(seconds, 1e-9), 2)}
    write_sample_files(out, weights, labels, load_layout(run), sc.size, digit, sc.n_per_class, meta, tokens=tokens,
                       progress=lambda i, k: progress(total, total, phase="render", shapes=i))
    run.log_event("sample", id=sid, n=total, seconds=round(seconds, 3))
    progress(total, total)
    return {"dir": str(out), "n": total, "grid": str(out / "grid.png"), "id": sid}

