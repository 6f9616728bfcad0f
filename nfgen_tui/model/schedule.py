"""The noise schedule of weight-space diffusion: linear betas, the forward process q(x_t | x_0), and DDIM steps
(the denoiser's, and the autoregressive generator's per-token head).

HyperDiffusion's recipe: T = 500 steps, betas linear from 1e-4 to 2e-2, the network predicts x0. With x0 predicted,
the noise is implied, eps = (x_t − √ᾱ_t·x0) / √(1 − ᾱ_t), and a DDIM step from t to an earlier s is
x_s = √ᾱ_s·x0 + √(1 − ᾱ_s − σ²)·eps + σ·z with σ = η·√((1 − ᾱ_s)/(1 − ᾱ_t))·√(1 − ᾱ_t/ᾱ_s): η = 0 is the
deterministic DDIM sampler, η = 1 the ancestral (DDPM-like) one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Schedule:
    """ᾱ_t for t = 0 … T−1 (float64 on the CPU: the products are tiny near T), indexed by integer timesteps."""

    def __init__(self, timesteps: int, beta_start: float, beta_end: float):
        self.T = int(timesteps)
        betas = torch.linspace(beta_start, beta_end, self.T, dtype=torch.float64)
        self.alpha_bar = torch.cumprod(1.0 - betas, dim=0)

    def coefs(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(√ᾱ_t, √(1 − ᾱ_t)) for timesteps `t` [B], shaped to broadcast over `like` [B, …]."""
        ab = self.alpha_bar[t.cpu()].to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))
        return ab.sqrt(), (1.0 - ab).sqrt()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·noise: a draw of q(x_t | x_0)."""
        a, s = self.coefs(t, x0)
        return a * x0 + s * noise

    def ddim_times(self, steps: int) -> list[int]:
        """`steps` timesteps from T−1 down to 0, evenly spaced (all T when steps = T)."""
        steps = max(1, min(int(steps), self.T))
        ts = torch.linspace(self.T - 1, 0, steps, dtype=torch.float64).round().long().tolist()
        return sorted(set(ts), reverse=True)

    def ddim_step(self, x_t: torch.Tensor, x0: torch.Tensor, t: int, s: int | None, eta: float,
                  noise: torch.Tensor | None) -> torch.Tensor:
        """One DDIM update from timestep t to s (s = None: the end, x0 itself); `noise` is used only when eta > 0."""
        if s is None:
            return x0
        ab_t, ab_s = float(self.alpha_bar[t]), float(self.alpha_bar[s])
        eps = (x_t - ab_t ** 0.5 * x0) / (1.0 - ab_t) ** 0.5
        sigma = eta * ((1.0 - ab_s) / (1.0 - ab_t)) ** 0.5 * (1.0 - ab_t / ab_s) ** 0.5
        out = ab_s ** 0.5 * x0 + max(1.0 - ab_s - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0 and noise is not None:
            out = out + sigma * noise
        return out


def x0_loss(model, schedule: Schedule, x0: torch.Tensor, cond: torch.Tensor, t: torch.Tensor,
            noise: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted x0 from x_t ~ q(x_t | x0): `model(x_t, t, cond)` is the denoiser (cond: the
    classes) or a per-token head (cond: the transformer's output for each token)."""
    x_t = schedule.q_sample(x0, t.to(x0.device), noise)
    return F.mse_loss(model(x_t, t.to(x0.device), cond).float(), x0.float())
