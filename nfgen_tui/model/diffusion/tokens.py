"""How a field's flat weight vector becomes the denoiser's tokens, and back (`diffusion.split`).

- `neuron`: one token per neuron — its incoming weights and its bias (the field's natural unit: permuting hidden
  neurons permutes tokens, never splits one);
- `layer`: one token per layer tensor (W and b of a layer together), HyperDiffusion's split;
- `chunk:N`: the flat vector cut into pieces of N weights, blind to the architecture.
Tokens of unequal width are padded to the widest; the index plan [K, D] holds flat positions, and P (one past the
last weight) where a token is padded, so gathering reads a zero there and scattering drops it.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import UserError
from ...fields.layout import Layout


def token_index(layout: Layout, split: str) -> torch.Tensor:
    """[K, D] long: the flat positions of each of the K tokens (P = padding); every position exactly once."""
    P = layout.n_params
    if split == "neuron":
        rows = [r for per_layer in layout.neuron_index() for r in per_layer]
    elif split == "layer":
        rows = [np.arange(w0, end) for w0, _, end in layout.offsets()]
    elif split.startswith("chunk:"):
        return chunk_index(P, split)
    else:
        raise ValueError(f"unknown diffusion.split {split!r}")
    return _plan(rows, P)


def chunk_index(P: int, split: str) -> torch.Tensor:
    """`chunk:N` over any vector of P numbers (a code has no layers or neurons: chunk is its only split)."""
    if not split.startswith("chunk:"):
        raise UserError(f"config diffusion.split: {split!r} splits a field's weights; codes (diffusion.target = "
                        f"codes) are split with chunk:N, or denoised whole with diffusion.net = mlp")
    n = int(split.split(":", 1)[1])
    return _plan([np.arange(i, min(i + n, P)) for i in range(0, P, n)], P)


def _plan(rows: list, P: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    index = torch.full((len(rows), width), P, dtype=torch.long)
    for k, r in enumerate(rows):
        index[k, :len(r)] = torch.as_tensor(np.asarray(r), dtype=torch.long)
    return index


def to_tokens(flat: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """[B, P] → [B, K, D] (zeros at padding)."""
    padded = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=1)
    return padded[:, index]


def from_tokens(tokens: torch.Tensor, index: torch.Tensor, n_params: int) -> torch.Tensor:
    """[B, K, D] → [B, P]: each position read from the one token slot that holds it (padding slots dropped)."""
    flat = tokens.new_zeros(tokens.shape[0], n_params + 1)
    flat[:, index.reshape(-1)] = tokens.reshape(tokens.shape[0], -1)
    return flat[:, :n_params]
