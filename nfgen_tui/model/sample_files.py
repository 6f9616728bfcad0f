"""The files of one `samples/<id>/` folder, the same for every generator (eval, sweep and the TUI read them).

weights.safetensors (weights + labels), what the field's modality renders (2D: images.npy, float32 in [0, 1], and
grid.png; 3D: meshes and views; `nfgen_tui.modality`) and, last, meta.json (its presence marks the folder complete,
and it names the modality); a generator with tokens (the GPT) also writes tokens.safetensors.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from ..modality import for_layout
from ..workspace import atomic_path, atomic_write_json


def write_sample_files(out: Path, weights: torch.Tensor, labels: torch.Tensor, layout, size: int, digit: int | None,
                       n: int, meta: dict, tokens: torch.Tensor | None = None, progress=None) -> None:
    """Render `weights` at `size` (pixels, or grid cells a side in 3D) and write the folder; `meta` is written last,
    with the modality's name and whatever its renderer reports added."""
    mod = for_layout(layout)
    total = labels.shape[0]
    out.mkdir(parents=True, exist_ok=True)
    if tokens is not None:
        with atomic_path(out / "tokens.safetensors") as p:
            save_file({"tokens": tokens.contiguous(), "labels": labels}, str(p))
    with atomic_path(out / "weights.safetensors") as p:
        save_file({"weights": weights.contiguous(), "labels": labels}, str(p))
    per_row = n if digit is None and n <= 50 else min(total, 20)
    extra = mod.write_samples(out, weights, labels, layout, size, per_row, progress=progress)
    atomic_write_json(out / "meta.json", {**meta, "modality": mod.name, **extra})
