"""What every network over normalised field vectors has (the denoisers and the autoregressive generator): the
null class of guidance, its parameter count, the map to and from the normalised space, and its initial weights.

A subclass registers the buffers `mean` and `std` (the training fields' per-coordinate statistics, so a checkpoint
carries them) and has a `cfg` with `n_classes`; the null class is index n_classes of its class embedding.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class VectorModel(nn.Module):
    @property
    def null_class(self) -> int:
        return self.cfg.n_classes

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def normalise(self, w: torch.Tensor) -> torch.Tensor:
        return (w - self.mean) / self.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def init_weights(self) -> None:
        """Every linear map and embedding N(0, 0.02²), biases zero (GPT-2's start)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
