"""The objective of the autoregressive generator for the shared loop (model/train.py `run_loop`): MAR's diffusion
loss, the head's x0-MSE on every token given the teacher-forced backbone's output for it.

Batches, class dropout, and each token's `ar.noise_draws` timesteps and noises are pure functions of (seed, step),
drawn for the whole global batch and sliced per rank: a resumed run draws exactly what the uninterrupted one would,
and N torchrun ranks compute the gradient of one process on the whole batch. The validation loss uses a fixed set of
held-out fields with fixed draws, so its curve compares across steps and runs.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ...device import autocast
from ...distributed import Ranks
from ...errors import UserError
from .. import ema
from ..train import LoopHooks, LoopResult, Objective, Resume, batch_rows, dropped_classes, run_loop
from .net import ARDiffusion


def token_draws(g: torch.Generator, rows: int, cfg, draws: int, timesteps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(timesteps [rows, K, R], noise [rows, K, R, C]) from `g`."""
    t = torch.randint(timesteps, (rows, cfg.n_tokens, draws), generator=g)
    return t, torch.randn(rows, cfg.n_tokens, draws, cfg.chunk, generator=g)


def step_draws(seed: int, step: int, batch_size: int, cfg, draws: int, timesteps: int, d: Ranks):
    """This rank's slice of the global batch's draws at `step`."""
    g = torch.Generator().manual_seed((seed * 4_000_037 + step + 13) % (2**63))
    t, noise = token_draws(g, batch_size, cfg, draws, timesteps)
    per = batch_size // d.world
    part = slice(d.rank * per, (d.rank + 1) * per)
    return t[part], noise[part]


@torch.no_grad()
def val_loss(model: ARDiffusion, val_x: torch.Tensor, val_y: torch.Tensor, seed: int, batch_size: int,
             n_batches: int, draws: int, device, d: Ranks) -> float | None:
    """The diffusion loss over the first batch_size·n_batches held-out fields, its draws fixed by `seed`."""
    rows = val_x[: batch_size * n_batches]
    if rows.shape[0] == 0:
        return None
    t_all, noise_all = token_draws(torch.Generator().manual_seed(seed + 99), rows.shape[0], model.cfg, draws,
                                   model.schedule.T)
    was = model.training
    model.eval()
    total = torch.zeros(2, device=device, dtype=torch.float64)
    for k, chunk in enumerate(torch.split(torch.arange(rows.shape[0]), batch_size)):
        if k % d.world != d.rank:
            continue
        with autocast(device):
            loss = model(rows[chunk].to(device), val_y[chunk].to(device), t_all[chunk].to(device),
                         noise_all[chunk].to(device))
        total += torch.stack([loss.double() * len(chunk), torch.tensor(float(len(chunk)), device=device).double()])
    if d.world > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    model.train(was)
    return float(total[0] / total[1])


def train_loop(model, raw_model: ARDiffusion, opt, train_x: torch.Tensor, train_y: torch.Tensor,
               val_x: torch.Tensor, val_y: torch.Tensor, tc, draws: int, seed: int, resume: Resume, until: int,
               device: torch.device, d: Ranks, hooks: LoopHooks) -> LoopResult:
    """The diffusion loss in `run_loop`, with the effective train config `tc` (train.* with the ar.* sizes);
    `train_x` are normalised vectors [N, D], `train_y` classes [N]."""
    if tc.batch_size % d.world:
        raise UserError(f"ar.batch_size {tc.batch_size} must be divisible by the number of processes ({d.world})")
    cfg, T = raw_model.cfg, raw_model.schedule.T

    def step_loss(step: int) -> torch.Tensor:
        rows = batch_rows(seed, step, train_x.shape[0], tc.batch_size, d)
        x, labels = train_x[rows].to(device), train_y[rows].clone()
        if tc.class_dropout > 0:
            labels[dropped_classes(seed, step, tc.batch_size, tc.class_dropout, d)] = raw_model.null_class
        t, noise = step_draws(seed, step, tc.batch_size, cfg, draws, T, d)
        with autocast(device):
            return model(x, labels.to(device), t.to(device), noise.to(device))

    objective = Objective(
        step_loss, lambda: val_loss(raw_model, val_x, val_y, seed, tc.batch_size, tc.eval_iters, draws, device, d),
        tc.batch_size * cfg.n_tokens, lr_key="ar.lr",
        after_step=(lambda n: ema.update(raw_model, cfg.ema, n)) if cfg.ema > 0 else None)
    return run_loop(model, opt, tc, objective, resume, until, device, d, hooks)
