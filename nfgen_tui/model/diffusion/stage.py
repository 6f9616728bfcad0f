"""Stages 3 and 4 for model.kind = diffusion: train the denoiser on the fitted fields, sample them with DDIM.

The same contract as the GPT's stage (model/stage.py): `transformer/ckpt/` in safetensors + JSON (the checkpoint
records kind "diffusion"), resume after a kill equal to an uninterrupted run, SIGTERM checkpoints and ends as an
interruption, torchrun data-parallel, `train` events for the live loss, `transformer/report.json` when done; samples
land in the same `samples/<id>/` files. It reads `fields/weights.safetensors` directly — no codebook needed — and
normalises each weight position by the training fields' mean and std (stored in the checkpoint as buffers).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from ... import device as devmod
from ...config import sample_settings
from ...distributed import Ranks
from ...errors import UserError
from ...fields.fit_files import load_layout
from ...progress import ProgressFn, null_progress
from ...workspace import Run
from .. import ema
from .. import sample_session as session
from ..generator import GENERATORS, SweepSampler
from ..guidance import check_guidance
from ..schedule import Schedule
from ..space import decoder, load_space
from ..train import make_optimizer
from ..train_session import (check_identity, load_weights, resume_checkpoint, sized_train_stage, train_session,
                             trained_checkpoint, trained_class_count)
from .denoiser import Denoiser, DenoiserConfig
from .mlp import MLPDenoiser
from .sample import ddim_sample
from .tokens import chunk_index, token_index
from .train import train_loop

KIND = "diffusion"


# ---------------------------------------------------------------------------------------------------------------
# shared pieces

def schedule_of(cfg) -> Schedule:
    d = cfg.diffusion
    return Schedule(d.timesteps, d.beta_start, d.beta_end)


def denoiser_setup(cfg, layout, n_classes: int) -> tuple[DenoiserConfig, torch.Tensor]:
    """The denoiser's shape: over the flat weights (P numbers in `split` tokens) or over codes (k numbers; a
    transformer then reads them in chunk:N tokens, an MLP whole)."""
    d = cfg.diffusion
    n = cfg.fields.subspace if d.target == "codes" else layout.n_params
    if d.net == "mlp":
        index = torch.arange(n).unsqueeze(0)
    elif d.target == "codes":
        index = chunk_index(n, d.split)
    else:
        index = token_index(layout, d.split)
    dcfg = DenoiserConfig(n_params=n, n_tokens=index.shape[0], width=index.shape[1], n_classes=n_classes,
                          split=d.split, n_layer=d.n_layer, n_head=d.n_head, n_embd=d.n_embd, net=d.net,
                          target=d.target, ema=d.ema)
    return dcfg, index


def make_denoiser(dcfg: DenoiserConfig, index: torch.Tensor, mean: torch.Tensor, std: torch.Tensor):
    """The network `diffusion.net` names, with its weights' moving average attached when `diffusion.ema` > 0."""
    model = MLPDenoiser(dcfg, mean, std) if dcfg.net == "mlp" else Denoiser(dcfg, index, mean, std)
    if dcfg.ema > 0:
        ema.attach(model)
    return model


# A checkpoint from before a key existed was made with that key's default (old runs resume and sample as before).
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(DenoiserConfig) if f.default is not dataclasses.MISSING}


def identity(dcfg: DenoiserConfig, cfg) -> dict:
    """What a checkpoint must match to be resumed or sampled: the network and its noise schedule."""
    d = cfg.diffusion
    return {**dcfg.to_dict(), "timesteps": d.timesteps, "beta_start": d.beta_start, "beta_end": d.beta_end}




def class_count(run: Run) -> int | None:
    """How many classes `run_sample` accepts as `digit`: the trained denoiser's; None before a checkpoint exists."""
    return trained_class_count(run)


def load_trained(run: Run, device: torch.device) -> tuple[Denoiser, Schedule, dict]:
    """The denoiser of the run's last checkpoint, for sampling."""
    state, tensors, where, fix = trained_checkpoint(run, KIND, "denoiser")
    cfg = run.config()
    n_classes = int((state.get("model") or {}).get("n_classes", 0))
    dcfg, index = denoiser_setup(cfg, load_layout(run), n_classes)
    check_identity(state, identity(dcfg, cfg), where, fix, "denoiser", "fields", _DEFAULTS)
    model = make_denoiser(dcfg, index, torch.zeros(dcfg.n_params), torch.ones(dcfg.n_params))
    load_weights(model, tensors, where, fix, "denoiser")
    if dcfg.ema > 0:
        ema.use_average(model)
    return model.to(device).eval(), schedule_of(cfg), state


# ---------------------------------------------------------------------------------------------------------------
# stage 3

def run_train(run: Run, progress: ProgressFn = null_progress, device: str | None = None, iters: int | None = None,
              force: bool = False) -> dict:
    """Train up to step `iters` (default diffusion.iters), resuming from the last checkpoint; `force` starts over.
    Signals checkpoint and end as an interruption (KeyboardInterrupt), as for the GPT."""
    return sized_train_stage(run, KIND, "diffusion", device, iters, force,
                             lambda cfg, tc, target, dev, d: _train(run, cfg, tc, target, dev, d, progress))


def _train(run: Run, cfg, tc, target: int, dev: torch.device, d: Ranks, progress: ProgressFn) -> dict:
    out = run.stage_dir("train")
    data = load_space(run, cfg.diffusion.target)
    dcfg, index = denoiser_setup(cfg, load_layout(run), data.n_classes)
    want = identity(dcfg, cfg)
    devmod.seed_everything(cfg.seed)
    model = make_denoiser(dcfg, index, data.mean, data.std).to(dev)
    opt = make_optimizer(model, tc.lr, tc.weight_decay, dev)

    def check(state, where, fix):
        check_identity(state, want, where, fix, "denoiser", "fields", _DEFAULTS)
        if state.get("fields_sha256") != data.sha:
            raise UserError(f"checkpoint {where} was trained on other fields (they were refitted); {fix}")

    resume, state = resume_checkpoint(run, out, model, opt, KIND, tc.class_dropout, d, check, "denoiser")
    if resume.step >= target:
        return {"step": resume.step, "loss": state.get("loss"), "val_loss": resume.val_loss,
                "n_params": model.n_params()}
    x = ((data.x - data.mean) / data.std).float()
    train = data.train
    train_x, train_y = x[train].contiguous(), data.labels[train].contiguous()
    val_x, val_y = x[~train].contiguous(), data.labels[~train].contiguous()

    def loop(net, hooks, at):
        return train_loop(net, model, opt, schedule_of(cfg), train_x, train_y, val_x, val_y, tc, cfg.seed, at, target,
                          dev, d, hooks)

    meta = {"model": want, "seed": cfg.seed, "fields_sha256": data.sha}
    return train_session(run, out, model, opt, tc, KIND, meta, dev, d, progress, resume, loop,
                         {"n_train": int(train_x.shape[0]), "n_val": int(val_x.shape[0])})


# ---------------------------------------------------------------------------------------------------------------
# stage 4

def sample_id(digit: int | None, n: int, steps: int, eta: float, cfg: float, seed: int, size: int, step: int) -> str:
    """The sample folder of a diffusion request (`all-n30-ddim50-eta0-cfg1.5-s0-px28-step5000`)."""
    guided = "" if cfg == 1.0 else f"-cfg{cfg:g}"
    return session.sample_id(digit, n, f"ddim{steps}-eta{eta:g}{guided}", seed, size, step)


def default_sample_id(cfg, step: int) -> str:
    sc = cfg.sample
    return sample_id(None, sc.n_per_class, sc.steps, sc.eta, sc.cfg, cfg.seed, sc.size, step)


def run_sample(run: Run, progress: ProgressFn = null_progress, device: str | None = None, digit: int | None = None,
               n: int | None = None, seed: int | None = None, size: int | None = None, cfg: float | None = None,
               steps: int | None = None, eta: float | None = None) -> dict:
    """DDIM-sample `n` fields per class (or of one `digit`), render them, store them in samples/<id>/."""
    scale = cfg
    run.require()
    cfg = run.config()
    sc = sample_settings(cfg.sample, GENERATORS[KIND].sample_flags, n_per_class=n, size=size, cfg=scale, steps=steps,
                         eta=eta)
    if sc.steps > cfg.diffusion.timesteps:
        raise UserError(f"--steps must be <= diffusion.timesteps ({cfg.diffusion.timesteps}), got {sc.steps}")
    if sc.cfg_schedule != "constant":
        raise UserError(f"sample.cfg_schedule {sc.cfg_schedule!r} is a GPT setting (guidance along the token "
                        f"sequence); diffusion guides every step: set sample.cfg_schedule = constant")
    seed = cfg.seed if seed is None else int(seed)
    dev = devmod.resolve(device or cfg.device)
    model, schedule, state = load_trained(run, dev)
    check_guidance(sc.cfg, state, model.null_class, f"run {run.name!r}")
    if digit is not None and not 0 <= digit < model.cfg.n_classes:
        raise UserError(f"--digit must be in 0..{model.cfg.n_classes - 1}, got {digit}")
    sid = sample_id(digit, sc.n_per_class, sc.steps, sc.eta, sc.cfg, seed, sc.size, int(state["step"]))
    return session.stored_or_sampled(run, sid, lambda out: _sample(run, model, schedule, state, out, sid, digit, sc,
                                                                   seed, progress))


def sample_weights(model: Denoiser, schedule: Schedule, labels: torch.Tensor, steps: int, eta: float, cfg: float,
                   seed: int, batch_size: int, progress: ProgressFn = null_progress, decode=None) -> torch.Tensor:
    """Weights [N, P] on the CPU for `labels`, in seeded batches (`sample_session.seeded_batches`); `decode` turns
    what the denoiser drew into weights (a code run's w0 + μ + B·c; None: it drew weights)."""
    drawn = session.seeded_batches(labels, batch_size, seed, progress, lambda chunk, s, step_progress: ddim_sample(
        model, schedule, chunk, steps, eta, cfg, s, step_progress))
    return drawn if decode is None else decode(drawn)


def _sample(run: Run, model: Denoiser, schedule: Schedule, state: dict, out: Path, sid: str, digit: int | None,
            sc, seed: int, progress: ProgressFn) -> dict:
    labels = session.class_labels(model.cfg.n_classes, digit, sc.n_per_class)
    t0 = time.time()
    weights = sample_weights(model, schedule, labels, sc.steps, sc.eta, sc.cfg, seed, sc.batch_size, progress,
                             decoder(run, model.cfg.target))
    settings = {"kind": KIND, "steps": sc.steps, "eta": sc.eta, "cfg": sc.cfg}
    return session.store_sample(run, out, sid, weights, labels, digit, sc, seed, int(state["step"]),
                                time.time() - t0, settings, progress)


# ---------------------------------------------------------------------------------------------------------------
# the sweep's sampler (nfgen sweep, sweep/stage.py; its grid: sweep/ddim_grid.py)


def sweep_sampler(run: Run, device: torch.device):
    """The trained denoiser as the sweep samples it: `sample_weights`, run_sample's own sampler."""
    model, schedule, state = load_trained(run, device)
    decode = decoder(run, model.cfg.target)

    def weights(s, labels, seed, batch_size, progress):
        return sample_weights(model, schedule, labels, s.steps, s.eta, s.cfg, seed, batch_size, progress, decode)

    return SweepSampler(weights, state, model.cfg.n_classes, {"kind": KIND})
