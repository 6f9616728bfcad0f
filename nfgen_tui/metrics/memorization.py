"""Memorization: how close each generated image comes to a *training* image.

Weight generators are known to reproduce training samples (HyperDiffusion users, Zeng et al. 2025), and MMD / COV
reward that. So every evaluated set also reports each image's highest SSIM to any real training image, the share
above a threshold (the memorization rate), and the distribution of those nearest-neighbour similarities.
"""

from __future__ import annotations

import numpy as np
import torch

from .ssim import ssim_nearest

QUANTILES = {"min": 0.0, "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "max": 1.0}


def nearest_training_ssim(images, train_images, mode: str = "gaussian", device=None) -> torch.Tensor:
    """[N] highest SSIM of each image to any training image."""
    return ssim_nearest(images, train_images, mode, device)[0]


def summarize(nearest: torch.Tensor, threshold: float) -> dict:
    """Rate above `threshold` and quantiles of the nearest-training SSIM."""
    v = nearest.double().numpy()
    if len(v) == 0:
        return {"memorization_rate": None, "memorization_quantiles": None}
    return {"memorization_rate": float((v > threshold).mean()),
            "memorization_quantiles": {k: float(np.quantile(v, q)) for k, q in QUANTILES.items()}}
