"""The training loop: AdamW, warmup + cosine, grad clipping, bf16 autocast on CUDA, validation, checkpoints, DDP.

Batches are a pure function of (seed, step): a resumed run draws exactly the batches the uninterrupted one would,
and under DDP every rank takes its slice of the same global batch, so N ranks compute the gradient of one
process on the whole batch. Only rank 0 writes files and events.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.distributed as dist

from ..device import autocast
from ..distributed import Ranks
from ..errors import UserError

IGNORE = -100


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: the last good checkpoint is kept, the message says what to change."""


def warmup_cosine_lr(step: int, lr: float, min_lr: float, warmup: int, horizon: int) -> float:
    """The transformer's learning rate: linear warmup for `warmup` steps, then cosine from lr to min_lr at `horizon`; min_lr beyond it."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= horizon:
        return min_lr
    ratio = (step - warmup) / max(1, horizon - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def batch_rows(seed: int, step: int, n_rows: int, batch_size: int, d: Ranks) -> torch.Tensor:
    """This rank's rows of the global batch of `step`: the same on every run, resumed or not."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63))
    rows = torch.randint(n_rows, (batch_size,), generator=g)
    per = batch_size // d.world
    return rows[d.rank * per:(d.rank + 1) * per]


def dropped_classes(seed: int, step: int, batch_size: int, p: float, d: Ranks) -> torch.Tensor:
    """This rank's rows of the global batch of `step` whose class token becomes the null class (probability p).

    A pure function of (seed, step), drawn from its own generator, like batch_rows: resumed and DDP runs drop the
    same rows as one uninterrupted process."""
    g = torch.Generator().manual_seed((seed * 2_000_003 + step + 7) % (2**63))
    drop = torch.rand(batch_size, generator=g) < p
    per = batch_size // d.world
    return drop[d.rank * per:(d.rank + 1) * per]


def inputs_targets(seqs: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token pairs; the class token is given, never predicted, so the loss is over weight tokens only."""
    seqs = seqs.to(device, non_blocking=True)
    x, y = seqs[:, :-1], seqs[:, 1:].clone()
    y[:, 0] = IGNORE
    return x, y


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float, device: torch.device):
    """AdamW; matrices and embeddings decay, biases and norms don't; fused kernels on CUDA."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=device.type == "cuda")


PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of known GPUs, for nanoGPT-style MFU; None elsewhere."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


@torch.no_grad()
def val_loss(model, val: torch.Tensor, batch_size: int, n_batches: int, device, d: Ranks) -> float | None:
    """Mean loss over a fixed set of held-out sequences (the first batch_size·n_batches), split across ranks."""
    if val.shape[0] == 0:
        return None
    was = model.training
    model.eval()
    rows = val[: batch_size * n_batches]
    chunks = list(torch.split(rows, batch_size))
    total = torch.zeros(2, device=device, dtype=torch.float64)
    for chunk in chunks[d.rank::d.world]:
        x, y = inputs_targets(chunk, device)
        with autocast(device):
            _, loss = model(x, y)
        n = (y != IGNORE).sum()
        total += torch.stack([loss.double() * n, n.double()])
    if d.world > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    model.train(was)
    return float(total[0] / total[1])


@dataclass
class LoopResult:
    step: int
    loss: float | None
    val_loss: float | None
    stopped: str  # "done" | "signal"
    history: list = field(default_factory=list)


@dataclass
class Resume:
    """Where the loop starts: the checkpoint's step and its last validation loss (0 and None for a fresh run)."""
    step: int = 0
    val_loss: float | None = None


@dataclass
class LoopHooks:
    """What the loop calls out to (the stage owns files, events, the progress bar and stop requests).

    `checkpoint(step, loss, val_loss)` is called every `tc.ckpt_every` steps and once at the end (also when a
    signal stops the loop); `log(**fields)` receives the train events; `should_stop()` is polled every step."""
    checkpoint: Callable[[int, float | None, float | None], None]
    log: Callable[..., None]
    progress: Callable[..., None]
    should_stop: Callable[[], bool]


@dataclass
class Objective:
    """What a generator trains on, for the shared loop: `step_loss(step)` is the loss of the global batch of `step`
    (a pure function of seed and step, so a resumed or DDP run draws what one uninterrupted process would),
    `val_loss()` the held-out loss; the sizes feed the throughput (and, on known GPUs, MFU) log."""
    step_loss: Callable[[int], torch.Tensor]
    val_loss: Callable[[], float | None]
    tokens_per_step: int
    flops_per_token: float | None = None
    lr_key: str = "train.lr"  # named by the divergence message
    after_step: Callable[[int], None] | None = None  # after optimizer step n (1, 2, …): a moving average of the weights


def run_loop(model, opt, tc, objective: Objective, resume: Resume, until: int, device: torch.device, d: Ranks,
             hooks: LoopHooks) -> LoopResult:
    """Train from `resume.step` up to step `until` (exclusive count: the step counter ends at `until`) with the
    `train`-shaped config `tc`: lr schedule, stop requests agreed across ranks, clip, eval / log / checkpoint
    cadence (the caller checks that the batch divides among the ranks). A non-finite loss raises before the optimizer applies it, so the last checkpoint stays the last good one.
    """
    peak = peak_flops(device) if objective.flops_per_token else None
    model.train()
    step, loss_val, v_loss = resume.step, None, resume.val_loss
    t_last, steps_since = time.perf_counter(), 0
    while step < until:
        lr = warmup_cosine_lr(step, tc.lr, tc.min_lr, tc.warmup, tc.iters)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = objective.step_loss(step)
        stop = torch.tensor([loss.detach().float().item(), 1.0 if hooks.should_stop() else 0.0], device=device)
        stop = d.all_mean(stop)
        loss_val, stop_now = float(stop[0]), bool(stop[1] > 0)
        if not math.isfinite(loss_val):
            raise TrainingDiverged(f"training loss became {loss_val} at step {step + 1}; the last good checkpoint "
                                   f"is kept — lower {objective.lr_key} (now {tc.lr:g}) or raise train.warmup, "
                                   f"then resume")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        if objective.after_step is not None:
            objective.after_step(step + 1)
        step += 1
        steps_since += 1
        is_eval = step % tc.eval_every == 0 or step == until
        if is_eval:
            v_loss = objective.val_loss()
        if step % tc.log_every == 0 or is_eval or step == until or stop_now:
            now = time.perf_counter()
            tok_s = objective.tokens_per_step * steps_since / max(now - t_last, 1e-9)
            t_last, steps_since = now, 0
            fields = {"step": step, "total": until, "loss": loss_val, "lr": lr, "tokens_per_s": round(tok_s, 1)}
            if is_eval and v_loss is not None:
                fields["val_loss"] = v_loss
            if peak:
                fields["mfu"] = round(objective.flops_per_token * tok_s / peak, 4)
            hooks.log(**fields)
            hooks.progress(step, until, loss=loss_val, tok_s=round(tok_s),
                           **({"val": v_loss} if v_loss is not None else {}))
        if step % tc.ckpt_every == 0 or step == until or stop_now:
            hooks.checkpoint(step, loss_val, v_loss)
        if stop_now:
            return LoopResult(step, loss_val, v_loss, "signal")
    return LoopResult(step, loss_val, v_loss, "done")


def train_loop(model, raw_model, opt, train: torch.Tensor, val: torch.Tensor, tc, seed: int, resume: Resume,
               until: int, device: torch.device, d: Ranks, hooks: LoopHooks, null_class: int | None = None) -> LoopResult:
    """The GPT's next-token objective in `run_loop`. With `tc.class_dropout` > 0 the class token of a sampled row is
    replaced by `null_class` with that probability (classifier-free guidance)."""
    if tc.batch_size % d.world:
        raise UserError(f"train.batch_size {tc.batch_size} must be divisible by the number of processes ({d.world})")
    class_dropout = float(getattr(tc, "class_dropout", 0.0))
    if class_dropout > 0 and null_class is None:
        raise UserError("train.class_dropout needs a null class token, and this codebook has none: "
                        "rerun `nfgen codebook --force`")

    def step_loss(step: int) -> torch.Tensor:
        x, y = inputs_targets(train[batch_rows(seed, step, train.shape[0], tc.batch_size, d)], device)
        if class_dropout > 0:
            x[dropped_classes(seed, step, tc.batch_size, class_dropout, d).to(device), 1] = null_class
        with autocast(device):
            _, loss = model(x, y)
        return loss

    objective = Objective(step_loss, lambda: val_loss(raw_model, val, tc.batch_size, tc.eval_iters, device, d),
                          tc.batch_size * raw_model.cfg.block_size, raw_model.flops_per_token())
    return run_loop(model, opt, tc, objective, resume, until, device, d, hooks)
