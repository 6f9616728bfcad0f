"""Sets that any generator is measured against, built from the run's own files and scored by the same code.

- held-out real: fields fitted to held-out images — what a perfect generator (new digits of the same quality) scores;
- marginal: every weight token drawn independently, per position and class, from the training sequences' histogram
  — no structure between weights; a transformer has to beat this;
- marginal codes (code runs, `fields.subspace` = k): every coordinate of the code c drawn independently, per class,
  from the training codes — the honest floor for a generator of codes, whose coordinates are nearly independent
  already (directions of one shared basis), so per-coordinate histograms alone draw passable fields;
- train + noise: training fields plus Gaussian weight noise — the memorization baseline of the weight-generation
  literature; it scores well on MMD / COV while copying the training set.
"""

from __future__ import annotations

import numpy as np
import torch

from .sets import balanced_subset

CODES = "marginal codes"  # the code-space marginal's row name, code runs only (fields.subspace > 0), every modality


def held_out(weights: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, n: int, seed: int):
    """Up to n held-out fields (split == 1), class-balanced: (weights, labels)."""
    idx = torch.nonzero(split == 1).flatten()
    pick = idx[balanced_subset(labels[idx].numpy(), n, seed)]
    return weights[pick], labels[pick]


def marginal_tokens(tokens: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, want: np.ndarray,
                    seed: int) -> torch.Tensor:
    """Sequences [len(want), L] for the classes in `want`: each position's token copied from an independently drawn
    training sequence of the same class, i.e. a draw from that position's class-conditional histogram. Any [N, L]
    tensor works: code coordinates too (`marginal codes`)."""
    rng = np.random.default_rng(seed)
    train_tokens, train_labels = tokens[split == 0], labels[split == 0].numpy()
    out = torch.empty(len(want), tokens.shape[1], dtype=tokens.dtype)
    positions = np.arange(tokens.shape[1])
    for c in np.unique(want):
        rows = np.flatnonzero(train_labels == c)
        where = np.flatnonzero(want == c)
        if len(rows) == 0:
            raise ValueError(f"no training sequence of class {c}")
        pick = rows[rng.integers(0, len(rows), size=(len(where), len(positions)))]
        out[torch.as_tensor(where)] = train_tokens[torch.as_tensor(pick), torch.as_tensor(positions)]
    return out


def train_plus_noise(weights: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, n: int, seed: int,
                     noise_std: float):
    """Up to n training fields, class-balanced, plus N(0, σ²) noise per weight: (weights, labels, σ).
    σ = noise_std, or when 0 a quarter of each weight position's spread over the training fields."""
    idx = torch.nonzero(split == 0).flatten()
    pick = idx[balanced_subset(labels[idx].numpy(), n, seed)]
    if noise_std > 0:
        std = torch.full((weights.shape[1],), float(noise_std))
    else:
        std = weights[idx].std(dim=0) / 4
    gen = torch.Generator().manual_seed(seed)
    noisy = weights[pick] + torch.randn(len(pick), weights.shape[1], generator=gen) * std
    return noisy, labels[pick], std
