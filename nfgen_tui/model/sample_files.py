"""The files of one `samples/<id>/` folder, the same for every generator (eval, sweep and the TUI read them).

weights.safetensors (weights + labels), images.npy (rendered, float32 in [0, 1]), grid.png and, last, meta.json
(its presence marks the folder complete); a generator with tokens (the GPT) also writes tokens.safetensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..workspace import atomic_path, atomic_write_json


def write_sample_files(out: Path, weights: torch.Tensor, labels: torch.Tensor, layout, size: int, digit: int | None,
                       n: int, meta: dict, tokens: torch.Tensor | None = None) -> None:
    """Render `weights` at `size` px and write the folder; `meta` is written last, as given."""
    from torchvision.utils import save_image

    from ..fields import render

    total = labels.shape[0]
    images = render(weights, layout, size).float().cpu().clamp(0, 1)
    out.mkdir(parents=True, exist_ok=True)
    if tokens is not None:
        with atomic_path(out / "tokens.safetensors") as p:
            save_file({"tokens": tokens.contiguous(), "labels": labels}, str(p))
    with atomic_path(out / "weights.safetensors") as p:
        save_file({"weights": weights.contiguous(), "labels": labels}, str(p))
    with atomic_path(out / "images.npy") as p:
        with open(p, "wb") as f:
            np.save(f, images.numpy().astype(np.float32))
    with atomic_path(out / "grid.png") as p:
        save_image(images[:, None], str(p), nrow=n if digit is None and n <= 50 else min(total, 20), padding=1,
                   format="png")
    atomic_write_json(out / "meta.json", meta)
