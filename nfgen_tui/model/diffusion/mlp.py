"""The residual-MLP denoiser (`diffusion.net = mlp`): the whole vector in, x0 out — mNIF's prior over codes.

A code c has no token structure worth attending over (its coordinates are directions of one shared basis, ordered
by variance), so the denoiser is a plain residual MLP: the noisy normalised vector projected to the width, then
blocks of LayerNorm → linear → SiLU → linear with a residual, each block's normalised input scaled and shifted by
the timestep + class embedding (adaLN, as DiT conditions its blocks). The class embedding's extra last row is the
null class of classifier-free guidance. Same interface as the transformer `Denoiser`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .denoiser import DenoiserConfig, NormalisedDenoiser, timestep_embedding


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.modulation = nn.Linear(width, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(cond).chunk(2, dim=1)
        return h + self.fc2(F.silu(self.fc1(self.norm(h) * (1 + scale) + shift)))


class MLPDenoiser(NormalisedDenoiser):
    def __init__(self, cfg: DenoiserConfig, mean: torch.Tensor, std: torch.Tensor):
        super().__init__(cfg, mean, std)
        W = cfg.n_embd
        self.inp = nn.Linear(cfg.n_params, W)
        self.time = nn.Sequential(nn.Linear(W, W), nn.SiLU(), nn.Linear(W, W))
        self.cls = nn.Embedding(cfg.n_classes + 1, W)
        self.blocks = nn.ModuleList(ResidualBlock(W) for _ in range(cfg.n_layer))
        self.norm = nn.LayerNorm(W)
        self.head = nn.Linear(W, cfg.n_params)
        self.init_normal()
        for b in self.blocks:  # every block starts as the identity
            nn.init.zeros_(b.fc2.weight)
            nn.init.zeros_(b.modulation.weight)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Noisy normalised vectors [B, D], timesteps [B], classes [B] (null_class = unconditional) → x0 [B, D]."""
        cond = F.silu(self.time(timestep_embedding(t, self.cfg.n_embd)) + self.cls(labels))
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, cond)
        return self.head(self.norm(h))
