"""The network: a causal transformer over continuous tokens (the backbone) and a per-token MLP diffusion head.

Input position 0 holds the class (an embedding whose extra last row is the null class of classifier-free guidance),
position i > 0 the token i−1 projected to the width; the backbone's output z_i at position i conditions the head,
which predicts token i's clean value x0 from a noisy draw x_t, its timestep t and z_i (MAR's SimpleMLPAdaLN: adaLN
residual blocks, model/adaln.py). Tokens live in the normalised space (each coordinate minus the training fields'
mean, over their std: buffers, so a checkpoint carries them); a vector whose length `chunk` does not divide is
padded with zeros, which the head learns to draw and decoding drops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..adaln import ResidualBlock, timestep_embedding
from ..causal import Block, KVCache
from ..schedule import x0_loss
from ..vectors import VectorModel


@dataclass
class ARNetConfig:
    n_params: int  # D numbers per field: the code's k, or the field's P weights
    chunk: int  # numbers per token
    n_classes: int  # the null class is index n_classes
    target: str = "codes"
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 128
    head_blocks: int = 3
    head_width: int = 128
    ema: float = 0.0
    bias: ClassVar[bool] = True  # the causal blocks' (model/causal.py)
    dropout: ClassVar[float] = 0.0

    @property
    def n_tokens(self) -> int:
        return math.ceil(self.n_params / self.chunk)

    @property
    def block_size(self) -> int:  # the KV cache's length: every token position
        return self.n_tokens

    def to_dict(self) -> dict:
        return asdict(self)


class Backbone(nn.Module):
    """The causal transformer: class token and previous tokens in, one output z_i per position out."""

    def __init__(self, cfg: ARNetConfig):
        super().__init__()
        E = cfg.n_embd
        self.cls = nn.Embedding(cfg.n_classes + 1, E)
        self.inp = nn.Linear(cfg.chunk, E)
        self.pos = nn.Embedding(cfg.n_tokens, E)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(E)

    def embed(self, labels: torch.Tensor, prev: torch.Tensor, start: int = 0) -> torch.Tensor:
        """The inputs at positions start … i, where prev [B, i, C] are tokens 0 … i−1: position 0 is the class,
        position j the token j−1 (start = i: the one new position of a cached step)."""
        parts = [self.cls(labels)[:, None]] if start == 0 else []
        first = max(start - 1, 0)
        if prev.shape[1] > first:
            parts.append(self.inp(prev[:, first:]))
        h = torch.cat(parts, dim=1)
        return h + self.pos(torch.arange(start, start + h.shape[1], device=h.device))

    def forward(self, h: torch.Tensor, cache: KVCache | None = None, pos: int = 0) -> torch.Tensor:
        """Inputs [B, T, E] at positions pos … pos+T−1 → outputs z [B, T, E] (causal; a cache holds the earlier
        positions' keys and values)."""
        for i, block in enumerate(self.blocks):
            h = block(h, None if cache is None else (cache.k[i], cache.v[i]), pos)
        return self.ln_f(h)


class Head(nn.Module):
    """The diffusion head: a noisy token, its timestep and the backbone's z in, the clean token x0 out."""

    def __init__(self, cfg: ARNetConfig):
        super().__init__()
        W = cfg.head_width
        self.inp = nn.Linear(cfg.chunk, W)
        self.time = nn.Sequential(nn.Linear(W, W), nn.SiLU(), nn.Linear(W, W))
        self.cond = nn.Linear(cfg.n_embd, W)
        self.blocks = nn.ModuleList(ResidualBlock(W) for _ in range(cfg.head_blocks))
        self.norm = nn.LayerNorm(W)
        self.out = nn.Linear(W, cfg.chunk)

    def condition(self, t: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """The blocks' condition from timesteps t ([N], or [1] for all rows) and the projected z (`self.cond(z)`)."""
        return F.silu(self.time(timestep_embedding(t, self.out.in_features)) + zc)

    def denoise(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.inp(x_t)
        for block in self.blocks:
            h = block(h, cond)
        return self.out(self.norm(h))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Noisy tokens [N, C], timesteps [N], backbone outputs [N, E] → x0 [N, C]."""
        return self.denoise(x_t, self.condition(t, self.cond(z)))


class ARDiffusion(VectorModel):
    def __init__(self, cfg: ARNetConfig, schedule, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.cfg = cfg
        self.schedule = schedule  # the head's noise schedule (model/schedule.py), not a parameter
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clone())
        self.backbone = Backbone(cfg)
        self.head = Head(cfg)
        self.init_weights()
        for name, p in self.backbone.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))
        for b in self.head.blocks:
            b.start_as_identity()

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B, D] → [B, K, C], the last token padded with zeros."""
        K, C = self.cfg.n_tokens, self.cfg.chunk
        return F.pad(x, (0, K * C - x.shape[1])).view(x.shape[0], K, C)

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, K, C] → [B, D] (padding dropped)."""
        return tokens.reshape(tokens.shape[0], -1)[:, :self.cfg.n_params]

    def forward(self, x: torch.Tensor, labels: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The diffusion loss of normalised vectors x [B, D] of classes `labels` [B] (null_class = unconditional):
        teacher-forced backbone outputs, then the head's x0-MSE at R draws per token (t [B, K, R], noise
        [B, K, R, C])."""
        tokens = self.to_tokens(x)
        z = self.backbone(self.backbone.embed(labels, tokens[:, :-1]))
        B, K, R, C = noise.shape
        zz = z.unsqueeze(2).expand(B, K, R, z.shape[-1]).reshape(-1, z.shape[-1])
        x0 = tokens.unsqueeze(2).expand(B, K, R, C).reshape(-1, C)
        return x0_loss(self.head, self.schedule, x0, zz, t.reshape(-1), noise.reshape(-1, C))
