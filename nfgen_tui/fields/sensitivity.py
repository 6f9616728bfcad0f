"""How much each weight of a field moves its rendered image: the Gauss–Newton diagonal of the pixel error.

A quantizer that minimises plain weight error spends its codes evenly, yet a first-layer weight feeding a busy unit
moves far more pixels than one feeding a unit that is mostly off. For a small change δ of the weights the rendered
image changes by J·δ (J = d pixels / d weights), so the pixel error is δᵀ(JᵀJ)δ; its diagonal, per weight position,
is the weighting that makes a Euclidean codebook minimise (approximately) the image error instead of the weight
error. Each pixel's output depends only on that pixel's activations, so the diagonal is one hand-written backward
pass with squared terms: Σ_m (∂I_m/∂z[m, o])² · h[m, i]².
"""

from __future__ import annotations

import torch

from .functional import _linear, inputs
from .layout import Layout


@torch.no_grad()
def pixel_sensitivity(weights: torch.Tensor, layout: Layout, size: int = 28, batch: int = 256) -> torch.Tensor:
    """weights [N, P] → [N, P]: mean over the size×size pixels of (∂ intensity / ∂ weight)², per field."""
    feats = inputs(layout, size, weights.device)
    parts = [_one_batch(weights[i:i + batch].float(), layout, feats) for i in range(0, weights.shape[0], batch)]
    return torch.cat(parts) if parts else weights.new_zeros(0, layout.n_params)


def _one_batch(flat: torch.Tensor, layout: Layout, feats: torch.Tensor) -> torch.Tensor:
    params = layout.unflatten(flat)
    siren = layout.arch == "siren"
    m = feats.shape[0]
    hs, derivs = [feats], []
    for i, (w, b) in enumerate(params[:-1]):
        z = _linear(hs[-1], w, b)
        if siren:
            om = layout.omega0 if i == 0 else 1.0
            derivs.append(torch.cos(om * z) * om)
            hs.append(torch.sin(om * z))
        else:
            derivs.append((z > 0).to(z.dtype))
            hs.append(torch.relu(z))
    w, b = params[-1]
    out = _linear(hs[-1], w, b)  # [N, M, 1]
    if siren:
        g = torch.ones_like(out)  # intensity = output (the clamp is flat only where the field already overshoots)
    else:
        s = torch.sigmoid(out)
        g = s * (1.0 - s)
    parts: list[torch.Tensor] = []
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        h2 = hs[i].square()
        g2 = g.square()
        if b is not None:
            parts.append(g2.sum(1))
        if h2.dim() == 2:
            parts.append(torch.matmul(g2.transpose(1, 2), h2).flatten(1))
        else:
            parts.append(torch.bmm(g2.transpose(1, 2), h2).flatten(1))
        if i == 0:
            break
        g = torch.bmm(g, w) * derivs[i - 1]
    return torch.cat(parts[::-1], dim=1) / m
