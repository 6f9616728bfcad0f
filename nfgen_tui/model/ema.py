"""An exponential moving average of a generator's weights (`diffusion.ema`, `ar.ema`), sampled instead of the raw
weights.

Diffusion priors (mNIF, DDPM, DiT) sample from an EMA of their weights: the last steps' noise averages out. The
shadow copies live in the model's state dict (buffers `ema.p0`, `ema.p1`, …), so the training checkpoint carries
them, a resumed run continues the same average, and a torchrun run keeps them equal on every rank (each rank applies
the same update to the same all-reduced weights).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Shadow(nn.Module):
    def __init__(self, params: list[nn.Parameter]):
        super().__init__()
        for i, p in enumerate(params):
            self.register_buffer(f"p{i}", p.detach().clone())

    def tensors(self) -> list[torch.Tensor]:
        return [getattr(self, f"p{i}") for i in range(len(self._buffers))]


def attach(model: nn.Module) -> None:
    """Give `model` a shadow of its parameters, starting equal to them."""
    model.ema = Shadow(list(model.parameters()))


def own_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for name, p in model.named_parameters() if not name.startswith("ema.")]


@torch.no_grad()
def update(model: nn.Module, decay: float) -> None:
    """shadow ← decay·shadow + (1 − decay)·weights, after an optimizer step."""
    torch._foreach_lerp_(model.ema.tensors(), [p.detach() for p in own_parameters(model)], 1.0 - decay)


@torch.no_grad()
def use_average(model: nn.Module) -> None:
    """Load the average into the weights (for sampling a trained model)."""
    for p, s in zip(own_parameters(model), model.ema.tensors()):
        p.copy_(s)
