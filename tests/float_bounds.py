"""How far two Adam trainings that differ only in float summation order may drift apart — bounds derived from the
update rule, not tuned to one CPU.

A torchrun run sums its ranks' gradients in another order than one process does, so each gradient component differs
by rounding (~1e-7 relative in float32). Adam's step is lr·m̂/(√v̂ + ε): scale-free in the gradient, so a component
whose gradient is far above the rounding moves by the same amount up to ~1e-7 relative, while one whose gradient is
itself near rounding (a dead unit, a padded weight) can flip direction and differ by up to the whole step, 2·lr per
step. Hence, with Σlr the sum of the learning rates over the steps taken:
- every component agrees within 2·Σlr (the most two Adam trajectories can separate), and
- all but a few components agree within 1e-3·Σlr (a real bug — a rank on the wrong rows, a missing all-reduce —
  moves most components by O(lr)).
On the developers' machine the largest difference was ~1e-6 with 0.2 % of components above 1e-7; on another CPU
1.04e-5: both far inside these bounds, which any x86-64 float order satisfies unless the computation differs.
"""

from __future__ import annotations

import torch

# components allowed beyond 1e-3·Σlr: ill-conditioned ones (gradients at rounding level) are rare in these tests
FEW = 0.01


def lr_total(lr_at, steps: int) -> float:
    """Σ lr over steps 0 … steps−1, `lr_at(step)` the run's own schedule."""
    return float(sum(lr_at(s) for s in range(steps)))


def assert_adam_twins(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], total_lr: float, keys=None) -> None:
    keys = list(b) if keys is None else list(keys)
    d = torch.cat([(a[k].double() - b[k].double()).abs().flatten() for k in keys])
    assert d.max().item() <= 2 * total_lr, f"max difference {d.max().item():.3g} > 2·Σlr = {2 * total_lr:.3g}"
    off = (d > 1e-3 * total_lr).double().mean().item()
    assert off <= FEW, f"{off:.2%} of components differ by more than 1e-3·Σlr = {1e-3 * total_lr:.3g}"
