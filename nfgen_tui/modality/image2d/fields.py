"""Fitting, scoring and rendering of modality `image2d`: a field maps pixel centres (x, y) to an intensity; fitted to
the run's images, scored by PSNR (its declaration: `modality/image2d/__init__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...data import load_dataset, select
from ...errors import UserError
from ...fields.fit import fit_fields
from ...fields.functional import inputs, psnr
from ...fields.render import render as render_images
from ...workspace import atomic_path

@dataclass
class ImageTargets:
    """The run's selected images (row i = field i), labels, split (0 train, 1 held out) and class names."""

    images: torch.Tensor  # float32 [N, S, S] in [0, 1]
    labels: np.ndarray
    split: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def load(cfg, root) -> ImageTargets:
    ds = load_dataset(cfg.data.dataset, root)
    images, labels, split = select(ds, cfg.data.limit, cfg.data.holdout, cfg.seed)
    if len(labels) == 0:
        raise UserError(f"dataset {cfg.data.dataset!r} selected no images: nothing to fit")
    return ImageTargets(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)), labels, split,
                        list(ds.classes))


def fit(data: ImageTargets, start: int, stop: int, init: torch.Tensor, layout, fc, seed: int, device,
        on_step=None, log_every: int = 25):
    """Fields start…stop-1 fitted from `init`: (weights [n, P], PSNR [n], final loss)."""
    return fit_fields(data.images[start:stop], init, layout, steps=fc.steps, lr=fc.lr, schedule=fc.schedule,
                      device=device, on_step=on_step, log_every=log_every)


def batches(data: ImageTargets, rows: torch.Tensor, layout, fc, seed: int, device):
    """`batch(step)` of the images `rows`: every pixel at every step (the shared grid [S·S, F], targets [n, S·S])."""
    target = data.images[rows].reshape(len(rows), -1).to(device=device, dtype=torch.float32)
    feats = inputs(layout, data.images.shape[-1], device)
    return lambda step: (feats, target)


def render(weights: torch.Tensor, layout, size: int = 28) -> torch.Tensor:
    """[N, size, size] intensities in [0, 1]."""
    return render_images(weights, layout, size)


def score(weights: torch.Tensor, layout, data: ImageTargets, device) -> torch.Tensor:
    """PSNR [N] of each field rendered at its image's size against the image (CPU)."""
    target = data.images.to(device)
    return psnr(render_images(weights.to(device), layout, target.shape[-1]), target).cpu()


def agreement(weights_a: torch.Tensor, weights_b: torch.Tensor, layout, data: ImageTargets, device) -> torch.Tensor:
    """PSNR [N] between two versions of the same fields (quantized against unquantized)."""
    size = data.images.shape[-1]
    return psnr(render_images(weights_a.to(device), layout, size), render_images(weights_b.to(device), layout, size)).cpu()


def write_samples(out, weights: torch.Tensor, labels: torch.Tensor, layout, size: int, per_row: int,
                  progress=None) -> dict:
    """A 2D sample folder: `images.npy` (float32 [N, size, size]) and `grid.png` (`per_row` images a row)."""
    from torchvision.utils import save_image  # here, not at import: torchvision costs a second on top of torch

    images = render_images(weights, layout, size).float().cpu().clamp(0, 1)
    with atomic_path(out / "images.npy") as p:
        with open(p, "wb") as f:
            np.save(f, images.numpy().astype(np.float32))
    with atomic_path(out / "grid.png") as p:
        save_image(images[:, None], str(p), nrow=per_row, padding=1, format="png")
    return {}
