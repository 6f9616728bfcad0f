"""The pieces of a diffusion network's conditioning: the sinusoidal timestep embedding and the adaLN residual block.

The denoiser's residual MLP (model/diffusion/mlp.py) and the autoregressive generator's per-token head
(model/ar_diffusion/head.py) are both stacks of these blocks, each block's normalised input scaled and shifted by a
condition vector (the timestep plus the class, or plus the transformer's output for the token) as DiT conditions its
blocks.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] integer timesteps → [B, dim] sinusoids (the transformer position encoding, over t)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))


class ResidualBlock(nn.Module):
    """LayerNorm → linear → SiLU → linear with a residual; the norm's output modulated by `cond` (adaLN)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(cond).chunk(2, dim=1)
        return h + self.fc2(F.silu(self.fc1(self.norm(h) * (1 + scale) + shift)))

    def start_as_identity(self) -> None:
        """Zero the output and the modulation: the block passes its input through until trained."""
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.modulation.weight)
