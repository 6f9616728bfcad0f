"""Render fields as images at any size, with the fitting's pixel-centre coordinates in [-1, 1]."""

from __future__ import annotations

import torch

from .functional import forward, inputs, to_intensity
from .layout import Layout


@torch.no_grad()
def render(weights: torch.Tensor, layout: Layout, size: int = 28, batch: int = 1024) -> torch.Tensor:
    """weights [N, P] (or [P]) → images [N, size, size] in [0, 1], on the weights' device; batched to bound memory."""
    if weights.dim() == 1:
        weights = weights.unsqueeze(0)
    weights = weights.float()
    feats = inputs(layout, size, weights.device)
    per = max(1, min(batch, (1 << 24) // max(1, size * size * max(l.n_out for l in layout.layers))))
    out = [to_intensity(forward(weights[i:i + per], layout, feats), layout)
           for i in range(0, weights.shape[0], per)]
    if not out:
        return torch.zeros(0, size, size, device=weights.device)
    return torch.cat(out).reshape(-1, size, size)
