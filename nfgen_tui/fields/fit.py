"""Fit a batch of fields at once: one Adam over the stacked weights [N, P], full-image batches.

Each field's loss is its own (the sum over fields, not the mean, so a field's gradient does not shrink with N), and
Adam is element-wise, so fitting N fields together gives the same weights as fitting each alone — only faster.
Fitting stays in fp32 even on CUDA: bf16 would cap the PSNR far below what these small fields reach.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .functional import Scratch, forward, inputs, loss_and_grad, psnr, to_intensity
from .layout import Layout

StepFn = Callable[[int, float], None]  # (step, mean loss per field)
BatchFn = Callable[[int], "tuple[torch.Tensor, torch.Tensor]"]  # step -> (feats, targets [N, M])


def field_lr(step: int, steps: int, lr: float, schedule: str) -> float:
    """A field fit's learning rate: constant, or cosine decay from `lr` towards 0 over
    `steps`. (The transformer's schedule is model/train.py's `warmup_cosine_lr`.)"""
    if schedule == "constant":
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))


def _adam(param: torch.Tensor, lr: float) -> torch.optim.Adam:
    try:
        return torch.optim.Adam([param], lr=lr, fused=True)  # one kernel for all fields; CPU and CUDA
    except (RuntimeError, TypeError):
        return torch.optim.Adam([param], lr=lr, foreach=True)


def fit_fields(targets: torch.Tensor, init: torch.Tensor, layout: Layout, *, steps: int, lr: float,
               schedule: str, device: torch.device | str = "cpu", on_step: StepFn | None = None,
               log_every: int = 25) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Fit N fields to N images (targets [N, S, S] or [N, S·S] in [0, 1], square) from `init` [N, P].

    `schedule` has no default here: the one default is `fields.schedule` in config.py.

    Returns (weights [N, P] on CPU, PSNR [N] on CPU, final mean loss). `on_step(step, loss)` is called every
    `log_every` steps and after the last one.
    """
    device = torch.device(device)
    n = targets.shape[0]
    target = targets.reshape(n, -1).to(device=device, dtype=torch.float32)
    size = math.isqrt(target.shape[1])
    feats = inputs(layout, size, device)
    weights, loss_value = adam_fit(init, layout, lambda step: (feats, target), steps=steps, lr=lr,
                                   schedule=schedule, device=device, on_step=on_step, log_every=log_every)
    with torch.no_grad():
        quality = psnr(to_intensity(forward(weights, layout, feats), layout), target)
    return weights.cpu(), quality.cpu(), loss_value


def adam_fit(init: torch.Tensor, layout: Layout, batch: BatchFn, *, steps: int, lr: float, schedule: str,
             device: torch.device, on_step: StepFn | None = None, log_every: int = 25) -> tuple[torch.Tensor, float]:
    """The fitting loop every modality shares: one Adam over the stacked weights, the hand-written gradient of
    each field's own loss on `batch(step)` = (feats [M, F] shared or [N, M, F] per field, targets [N, M]).

    Returns (weights [N, P] on `device`, final mean loss)."""
    param = init.detach().to(device=device, dtype=torch.float32).clone().requires_grad_(True)
    opt = _adam(param, lr)
    scratch = Scratch()
    loss_value = float("nan")
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = field_lr(step, steps, lr, schedule)
        report = on_step is not None and ((step + 1) % log_every == 0 or step + 1 == steps)
        feats, target = batch(step)
        with torch.no_grad():
            grad, loss = loss_and_grad(param, layout, feats, target, want_loss=report or step + 1 == steps,
                                       scratch=scratch)
        param.grad = grad
        opt.step()
        if loss is not None:
            loss_value = float(loss.mean())
        if report:
            on_step(step + 1, loss_value)
    return param.detach(), loss_value
