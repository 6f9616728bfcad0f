"""The denoiser: a bidirectional transformer over weight tokens, a timestep token and a class token; predicts x0.

Input tokens are the noisy normalised weights (tokens.py), each projected by one shared linear map plus a learned
per-token position embedding; the timestep enters as a sinusoidal embedding through an MLP (its own token), the
class as an embedding whose extra last row is the *null class* of classifier-free guidance. The output is x0 in the
normalised space; the per-position mean and std of the training fields are buffers, so a checkpoint carries them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..adaln import timestep_embedding
from ..vectors import VectorModel
from .tokens import from_tokens, to_tokens


@dataclass
class DenoiserConfig:
    n_params: int  # numbers denoised per field: P weights, or the code's k coordinates (target = codes)
    n_tokens: int  # K
    width: int  # D, weights per token (padded)
    n_classes: int  # the null class is index n_classes
    split: str = "neuron"
    n_layer: int = 4
    net: str = "transformer"  # transformer | mlp (mlp.py)
    target: str = "weights"  # weights | codes (space.py); n_params is then the code length k
    ema: float = 0.0  # decay of the weights' moving average (ema.py; 0 = none)
    n_head: int = 4
    n_embd: int = 128

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    """Pre-LN transformer block, full (non-causal) attention: every token sees every other."""

    def __init__(self, c: DenoiserConfig):
        super().__init__()
        self.n_head = c.n_head
        self.ln1, self.ln2 = nn.LayerNorm(c.n_embd), nn.LayerNorm(c.n_embd)
        self.qkv = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.fc = nn.Linear(c.n_embd, 4 * c.n_embd)
        self.out = nn.Linear(4 * c.n_embd, c.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class Denoiser(VectorModel):
    def __init__(self, cfg: DenoiserConfig, index: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.cfg = cfg
        E = cfg.n_embd
        self.register_buffer("index", index.long().clone())
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clone())
        self.inp = nn.Linear(cfg.width, E)
        self.pos = nn.Parameter(torch.zeros(cfg.n_tokens + 2, E))
        self.time = nn.Sequential(nn.Linear(E, E), nn.GELU(), nn.Linear(E, E))
        self.cls = nn.Embedding(cfg.n_classes + 1, E)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(E)
        self.head = nn.Linear(E, cfg.width)
        self.init_weights()
        nn.init.normal_(self.pos, 0.0, 0.02)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Noisy normalised weights [B, P], timesteps [B], classes [B] (null_class = unconditional) → x0 [B, P]."""
        h = self.inp(to_tokens(x_t, self.index))
        cond = torch.stack([self.time(timestep_embedding(t, self.cfg.n_embd)), self.cls(labels)], dim=1)
        h = torch.cat([cond, h], dim=1) + self.pos
        for block in self.blocks:
            h = block(h)
        out = self.head(self.ln_f(h[:, 2:]))
        return from_tokens(out, self.index, self.cfg.n_params)
