"""The denoiser's objective for the shared training loop (model/train.py `run_loop`): an x0-MSE loss.

Batches, class dropout, timesteps and noise are pure functions of (seed, step), each drawn for the whole global
batch and sliced per rank: a resumed run draws exactly what the uninterrupted one would, and N torchrun ranks
compute the gradient of one process on the whole batch. The validation loss is the x0-MSE of a fixed set of
held-out fields at fixed timesteps and noise, so its curve compares across steps and runs.
"""

from __future__ import annotations


import torch
import torch.distributed as dist

from ...device import autocast
from ...distributed import Ranks
from ...errors import UserError
from .. import ema
from ..schedule import Schedule, x0_loss
from ..train import LoopHooks, LoopResult, Objective, Resume, batch_rows, dropped_classes, run_loop


def noise_draw(seed: int, step: int, batch_size: int, n_params: int, timesteps: int, d: Ranks):
    """This rank's (timesteps [b], noise [b, P]) of the global batch of `step`."""
    g = torch.Generator().manual_seed((seed * 3_000_017 + step + 11) % (2**63))
    t = torch.randint(timesteps, (batch_size,), generator=g)
    noise = torch.randn(batch_size, n_params, generator=g)
    per = batch_size // d.world
    part = slice(d.rank * per, (d.rank + 1) * per)
    return t[part], noise[part]


@torch.no_grad()
def val_loss(model, schedule: Schedule, val_x: torch.Tensor, val_y: torch.Tensor, seed: int, batch_size: int,
             n_batches: int, device, d: Ranks) -> float | None:
    """x0-MSE over the first batch_size·n_batches held-out fields, timesteps and noise fixed by `seed`."""
    rows = val_x[: batch_size * n_batches]
    if rows.shape[0] == 0:
        return None
    g = torch.Generator().manual_seed(seed + 99)
    t_all = torch.randint(schedule.T, (rows.shape[0],), generator=g)
    noise_all = torch.randn(rows.shape, generator=g)
    was = model.training
    model.eval()
    total = torch.zeros(2, device=device, dtype=torch.float64)
    idx = torch.arange(rows.shape[0])
    for k, chunk in enumerate(torch.split(idx, batch_size)):
        if k % d.world != d.rank:
            continue
        x0 = rows[chunk].to(device)
        with autocast(device):
            loss = x0_loss(model, schedule, x0, val_y[chunk].to(device), t_all[chunk], noise_all[chunk].to(device))
        total += torch.stack([loss.double() * len(chunk), torch.tensor(float(len(chunk)), device=device).double()])
    if d.world > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    model.train(was)
    return float(total[0] / total[1])


def train_loop(model, raw_model, opt, schedule: Schedule, train_x: torch.Tensor, train_y: torch.Tensor,
               val_x: torch.Tensor, val_y: torch.Tensor, tc, seed: int, resume: Resume, until: int,
               device: torch.device, d: Ranks, hooks: LoopHooks) -> LoopResult:
    """The x0 objective in the GPT's `run_loop`, with the effective train config `tc` (train.* with the diffusion
    sizes); `train_x` are normalised weights [N, P], `train_y` classes [N]."""
    if tc.batch_size % d.world:
        raise UserError(f"diffusion.batch_size {tc.batch_size} must be divisible by the number of processes "
                        f"({d.world})")
    null_class = raw_model.null_class
    P = train_x.shape[1]

    def step_loss(step: int) -> torch.Tensor:
        rows = batch_rows(seed, step, train_x.shape[0], tc.batch_size, d)
        x0, labels = train_x[rows].to(device), train_y[rows].clone()
        if tc.class_dropout > 0:
            labels[dropped_classes(seed, step, tc.batch_size, tc.class_dropout, d)] = null_class
        t, noise = noise_draw(seed, step, tc.batch_size, P, schedule.T, d)
        with autocast(device):
            return x0_loss(model, schedule, x0, labels.to(device), t, noise.to(device))

    objective = Objective(
        step_loss, lambda: val_loss(raw_model, schedule, val_x, val_y, seed, tc.batch_size, tc.eval_iters, device, d),
        tc.batch_size * (raw_model.cfg.n_tokens + 2), lr_key="diffusion.lr",
        after_step=(lambda n: ema.update(raw_model, raw_model.cfg.ema, n)) if raw_model.cfg.ema > 0 else None)
    return run_loop(model, opt, tc, objective, resume, until, device, d, hooks)
