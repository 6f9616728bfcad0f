"""Sampling token by token: one backbone step (KV cache), then DDIM over the head for that token.

Guidance (`cfg` ≠ 1): every field is drawn as two rows through the backbone — its class and the null class, each row
with its own cache, both fed the same sampled tokens — and the head's x0 is uncond + s·(cond − uncond) (the
denoiser's formula, model/guidance.py); at scale 1 the null-class rows are not computed at all.
Temperature τ (MAR's): the head's start noise is τ·N(0, I) and each DDIM step's noise (eta > 0) τ·σ·z, so τ < 1
draws each token nearer its conditional mode and τ = 1 samples the trained distribution.
All randomness comes from one seeded generator, drawn in the same order with or without the cache.
"""

from __future__ import annotations

import torch

from ...device import one_cpu_thread
from ..causal import KVCache
from ..guidance import guide, is_guided
from .net import ARDiffusion


@torch.no_grad()
def sample_vectors(model: ARDiffusion, labels: torch.Tensor, steps: int, eta: float = 0.0, cfg: float = 1.0,
                   temperature: float = 1.0, seed: int = 0, use_cache: bool = True, null_rows: bool | None = None,
                   progress=None) -> torch.Tensor:
    """Vectors [B, D] (denormalised codes or weights, float32, CPU) for classes `labels` [B]. `use_cache` False
    recomputes every prefix (the check of the cache); `null_rows` True computes the null-class rows even at scale 1
    (the check that scale 1 is the conditional sample; None: only when guided)."""
    model.eval()
    device = model.mean.device
    B, K, C = labels.shape[0], model.cfg.n_tokens, model.cfg.chunk
    g = torch.Generator(device="cpu").manual_seed(seed)
    paired = is_guided(cfg) if null_rows is None else null_rows
    labels = labels.to(device)
    rows = torch.cat([labels, torch.full_like(labels, model.null_class)]) if paired else labels
    cache = KVCache(model.cfg, rows.shape[0], device, torch.float32) if use_cache else None
    tokens = torch.zeros(rows.shape[0], K, C, device=device)
    times = model.schedule.ddim_times(steps)
    with one_cpu_thread(device):
        for i in range(K):
            if use_cache:
                z = model.backbone(model.backbone.embed(rows, tokens[:, :i], start=i), cache, pos=i)[:, -1]
            else:
                z = model.backbone(model.backbone.embed(rows, tokens[:, :i]))[:, -1]
            token = _head_ddim(model, z, times, eta, cfg, temperature, g, B, paired)
            tokens[:, i] = torch.cat([token, token]) if paired else token
            if progress is not None:
                progress(i + 1, K)
    return model.denormalise(model.from_tokens(tokens[:B])).float().cpu()


def _head_ddim(model: ARDiffusion, z: torch.Tensor, times: list[int], eta: float, cfg: float, temperature: float,
               g: torch.Generator, B: int, paired: bool) -> torch.Tensor:
    """One token [B, C]: DDIM from τ-scaled noise over the head conditioned on z [B or 2B, E]."""
    head, schedule, device = model.head, model.schedule, z.device
    C = model.cfg.chunk
    zc = head.cond(z)
    x = temperature * torch.randn(B, C, generator=g).to(device)
    for j, t in enumerate(times):
        s = times[j + 1] if j + 1 < len(times) else None
        cond = head.condition(torch.tensor([t], device=device), zc)
        pred = head.denoise(torch.cat([x, x]) if paired else x, cond).float()
        x0 = guide(pred[:B], pred[B:], cfg) if paired else pred
        noise = temperature * torch.randn(B, C, generator=g).to(device) if eta > 0 and s is not None else None
        x = schedule.ddim_step(x, x0, t, s, eta, noise)
    return x
