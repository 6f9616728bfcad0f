"""DDIM sampling of field weights with classifier-free guidance on the predicted x0.

Guided, the conditional rows and their unconditional twins (the null class) go through the denoiser as one batch
of 2B, and x0 = uncond + s·(cond − uncond) — the GPT's guidance formula, applied to the prediction instead of the
logits. All randomness (the start noise, and the per-step noise when eta > 0) comes from one seeded generator.
"""

from __future__ import annotations

import torch

from ...device import one_cpu_thread
from ..guidance import guide, is_guided
from ..schedule import Schedule
from .denoiser import Denoiser


@torch.no_grad()
def ddim_sample(model: Denoiser, schedule: Schedule, labels: torch.Tensor, steps: int, eta: float = 0.0,
                cfg: float = 1.0, seed: int = 0, progress=None) -> torch.Tensor:
    """Weights [B, P] (denormalised, float32, CPU) for classes `labels` [B]."""
    model.eval()
    device = model.mean.device
    B, P = labels.shape[0], model.cfg.n_params
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(B, P, generator=g).to(device)
    labels = labels.to(device)
    guided = is_guided(cfg)
    both = torch.cat([labels, torch.full_like(labels, model.null_class)]) if guided else labels
    times = schedule.ddim_times(steps)
    with one_cpu_thread(device):
        for i, t in enumerate(times):
            s = times[i + 1] if i + 1 < len(times) else None
            tt = torch.full((both.shape[0],), t, dtype=torch.long, device=device)
            pred = model(torch.cat([x, x]) if guided else x, tt, both).float()
            x0 = guide(pred[:B], pred[B:], cfg) if guided else pred
            noise = torch.randn(B, P, generator=g).to(device) if eta > 0 and s is not None else None
            x = schedule.ddim_step(x, x0, t, s, eta, noise)
            if progress is not None:
                progress(i + 1, len(times))
    return model.denormalise(x).float().cpu()
