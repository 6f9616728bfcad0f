"""Initial weights of fields, seeded so any chunk can be recomputed alone (resume, multi-process) bit for bit.

Why a shared start matters: hidden units of an MLP can be permuted freely, so fields fitted from independent
random inits land in unrelated weight orderings; starting every field from the same weights (`first`, the
reference's answer, or `shared-random`) keeps them structurally close — `weight_spread` measures that.
"""

from __future__ import annotations

import math

import torch

from .layout import Layout

INIT_MODES = ("first", "shared-random", "random")


def random_init(layout: Layout, generator: torch.Generator) -> torch.Tensor:
    """One field's flat weights [P]: nn.Linear's default U(±1/√n_in) for relu-pe; SIREN's init for siren."""
    parts = []
    last = len(layout.layers) - 1
    for i, l in enumerate(layout.layers):
        if layout.arch == "siren":
            # first layer U(±1/n_in); later layers U(±√(6/n_in)) — SIREN's ω0·W with hidden ω0 folded into W — and
            # the linear output layer U(±√(6/n_in)/ω0).
            bound = 1.0 / l.n_in if i == 0 else math.sqrt(6.0 / l.n_in) / (layout.omega0 if i == last else 1.0)
        else:
            bound = 1.0 / math.sqrt(l.n_in)
        parts.append((torch.rand(l.n_out * l.n_in, generator=generator) * 2 - 1) * bound)
        if l.bias:
            parts.append((torch.rand(l.n_out, generator=generator) * 2 - 1) / math.sqrt(l.n_in))
    return torch.cat(parts)


def seeded_init(layout: Layout, seed: int, index: int = 0) -> torch.Tensor:
    """Random init of field `index` under `seed`: independent of which process or chunk computes it."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index))
    return random_init(layout, g)


def chunk_init(mode: str, layout: Layout, seed: int, start: int, stop: int,
               template: torch.Tensor | None) -> torch.Tensor:
    """[stop-start, P] starting weights of fields start…stop-1: the shared template, or per-field random inits."""
    if mode == "random":
        return torch.stack([seeded_init(layout, seed, i) for i in range(start, stop)])
    assert template is not None, "shared init modes need the template"
    return template.detach().cpu().unsqueeze(0).repeat(stop - start, 1)


def weight_spread(weights: torch.Tensor) -> float:
    """Mean over weight positions of the standard deviation across fields: small = fields structurally alike."""
    if weights.shape[0] < 2:
        return 0.0
    return float(weights.double().std(dim=0).mean())
