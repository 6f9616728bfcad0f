"""Stages 3 and 4 for model.kind = ar-diffusion: train the transformer and its diffusion head on the fitted fields'
vectors, sample them token by token.

The same contract as the other generators (model/train_session.py, model/sample_session.py): `transformer/ckpt/`
recording kind "ar-diffusion", resume after a kill equal to an uninterrupted run, SIGTERM checkpoints, torchrun,
`train` events, `transformer/report.json`, samples in `samples/<id>/`. It reads the fields' space (model/space.py:
codes of a subspace run, or flat weights) — no codebook needed.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ... import device as devmod
from ...config import AR_BETAS, sample_settings
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
from .net import ARDiffusion, ARNetConfig
from .sample import sample_vectors
from .train import train_loop

KIND = "ar-diffusion"


def net_config(cfg, n_params: int, n_classes: int) -> ARNetConfig:
    a = cfg.ar
    return ARNetConfig(n_params=n_params, chunk=a.chunk, n_classes=n_classes, target=a.target, n_layer=a.n_layer,
                       n_head=a.n_head, n_embd=a.n_embd, head_blocks=a.head_blocks, head_width=a.head_width,
                       ema=a.ema)


def vector_length(run: Run, cfg) -> int:
    """D: the code's k, or the fitted fields' P weights."""
    return cfg.fields.subspace if cfg.ar.target == "codes" else load_layout(run).n_params


def make_model(net: ARNetConfig, cfg, mean: torch.Tensor, std: torch.Tensor) -> ARDiffusion:
    """The network, with its weights' moving average attached when `ar.ema` > 0."""
    model = ARDiffusion(net, Schedule(cfg.ar.timesteps, *AR_BETAS), mean, std)
    if net.ema > 0:
        ema.attach(model)
    return model


def identity(net: ARNetConfig, cfg) -> dict:
    """What a checkpoint must match to be resumed or sampled: the network and the head's schedule."""
    return {**net.to_dict(), "timesteps": cfg.ar.timesteps}


def class_count(run: Run) -> int | None:
    """How many classes `run_sample` accepts as `digit`; None before a checkpoint exists."""
    return trained_class_count(run)


def load_trained(run: Run, device: torch.device) -> tuple[ARDiffusion, dict]:
    """The model of the run's last checkpoint (its weights' average when it keeps one), for sampling."""
    state, tensors, where, fix = trained_checkpoint(run, KIND, "autoregressive generator")
    cfg = run.config()
    net = net_config(cfg, vector_length(run, cfg), int((state.get("model") or {}).get("n_classes", 0)))
    check_identity(state, identity(net, cfg), where, fix, "autoregressive generator", "fields")
    model = make_model(net, cfg, torch.zeros(net.n_params), torch.ones(net.n_params))
    load_weights(model, tensors, where, fix, "autoregressive generator")
    if net.ema > 0:
        ema.use_average(model)
    return model.to(device).eval(), state


# ---------------------------------------------------------------------------------------------------------------
# stage 3

def run_train(run: Run, progress: ProgressFn = null_progress, device: str | None = None, iters: int | None = None,
              force: bool = False) -> dict:
    """Train up to step `iters` (default ar.iters), resuming from the last checkpoint; `force` starts over."""
    return sized_train_stage(run, KIND, "ar", device, iters, force,
                             lambda cfg, tc, target, dev, d: _train(run, cfg, tc, target, dev, d, progress))


def _train(run: Run, cfg, tc, target: int, dev: torch.device, d: Ranks, progress: ProgressFn) -> dict:
    out = run.stage_dir("train")
    data = load_space(run, cfg.ar.target)
    net = net_config(cfg, data.x.shape[1], data.n_classes)
    want = identity(net, cfg)
    devmod.seed_everything(cfg.seed)
    model = make_model(net, cfg, data.mean, data.std).to(dev)
    opt = make_optimizer(model, tc.lr, tc.weight_decay, dev)

    def check(state, where, fix):
        check_identity(state, want, where, fix, "autoregressive generator", "fields")
        if state.get("fields_sha256") != data.sha:
            raise UserError(f"checkpoint {where} was trained on other fields (they were refitted); {fix}")

    resume, state = resume_checkpoint(run, out, model, opt, KIND, tc.class_dropout, d, check,
                                      "autoregressive generator")
    if resume.step >= target:
        return {"step": resume.step, "loss": state.get("loss"), "val_loss": resume.val_loss,
                "n_params": model.n_params()}
    x = ((data.x - data.mean) / data.std).float()
    train_x, train_y = x[data.train].contiguous(), data.labels[data.train].contiguous()
    val_x, val_y = x[~data.train].contiguous(), data.labels[~data.train].contiguous()

    def loop(wrapped, hooks, at):
        return train_loop(wrapped, model, opt, train_x, train_y, val_x, val_y, tc, cfg.ar.noise_draws, cfg.seed, at,
                          target, dev, d, hooks)

    meta = {"model": want, "seed": cfg.seed, "fields_sha256": data.sha}
    return train_session(run, out, model, opt, tc, KIND, meta, dev, d, progress, resume, loop,
                         {"n_train": int(train_x.shape[0]), "n_val": int(val_x.shape[0])})


# ---------------------------------------------------------------------------------------------------------------
# stage 4

def sample_id(digit: int | None, n: int, steps: int, eta: float, temperature: float, cfg: float, seed: int,
              size: int, step: int) -> str:
    """The sample folder of a request (`all-n30-ar50-eta0-t1-cfg1.5-s0-px28-step5000`)."""
    guided = "" if cfg == 1.0 else f"-cfg{cfg:g}"
    return session.sample_id(digit, n, f"ar{steps}-eta{eta:g}-t{temperature:g}{guided}", seed, size, step)


def default_sample_id(cfg, step: int) -> str:
    sc = cfg.sample
    return sample_id(None, sc.n_per_class, sc.steps, sc.eta, sc.temperature, sc.cfg, cfg.seed, sc.size, step)


def run_sample(run: Run, progress: ProgressFn = null_progress, device: str | None = None, digit: int | None = None,
               n: int | None = None, seed: int | None = None, size: int | None = None, cfg: float | None = None,
               steps: int | None = None, eta: float | None = None, temperature: float | None = None) -> dict:
    """Sample `n` fields per class (or of one `digit`) token by token, render them, store them in samples/<id>/."""
    scale = cfg
    run.require()
    cfg = run.config()
    sc = sample_settings(cfg.sample, GENERATORS[KIND].sample_flags, n_per_class=n, size=size, cfg=scale, steps=steps,
                         eta=eta, temperature=temperature)
    if sc.steps > cfg.ar.timesteps:
        raise UserError(f"--steps must be <= ar.timesteps ({cfg.ar.timesteps}), got {sc.steps}")
    seed = cfg.seed if seed is None else int(seed)
    dev = devmod.resolve(device or cfg.device)
    model, state = load_trained(run, dev)
    check_guidance(sc.cfg, state, model.null_class, f"run {run.name!r}")
    if digit is not None and not 0 <= digit < model.cfg.n_classes:
        raise UserError(f"--digit must be in 0..{model.cfg.n_classes - 1}, got {digit}")
    sid = sample_id(digit, sc.n_per_class, sc.steps, sc.eta, sc.temperature, sc.cfg, seed, sc.size,
                    int(state["step"]))
    return session.stored_or_sampled(run, sid, lambda out: _sample(run, model, state, out, sid, digit, sc, seed,
                                                                   progress))


def sample_weights(model: ARDiffusion, labels: torch.Tensor, s, seed: int, batch_size: int,
                   progress: ProgressFn = null_progress, decode=None) -> torch.Tensor:
    """Weights [N, P] on the CPU for `labels` with the settings `s` (steps, eta, temperature, cfg), in seeded
    batches; `decode` turns the drawn vectors into weights (a code run's w0 + μ + B·c; None: they are weights)."""
    drawn = session.seeded_batches(labels, batch_size, seed, progress, lambda chunk, b_seed, step_progress:
                                   sample_vectors(model, chunk, s.steps, s.eta, s.cfg, s.temperature, b_seed,
                                                  progress=step_progress))
    return drawn if decode is None else decode(drawn)


def _sample(run: Run, model: ARDiffusion, state: dict, out: Path, sid: str, digit: int | None, sc, seed: int,
            progress: ProgressFn) -> dict:
    labels = session.class_labels(model.cfg.n_classes, digit, sc.n_per_class)
    t0 = time.time()
    weights = sample_weights(model, labels, sc, seed, sc.batch_size, progress, decoder(run, model.cfg.target))
    settings = {"kind": KIND, "steps": sc.steps, "eta": sc.eta, "temperature": sc.temperature, "cfg": sc.cfg}
    return session.store_sample(run, out, sid, weights, labels, digit, sc, seed, int(state["step"]),
                                time.time() - t0, settings, progress)


# ---------------------------------------------------------------------------------------------------------------
# the sweep's sampler (nfgen sweep, sweep/stage.py; its grid: sweep/ar_grid.py)

def sweep_sampler(run: Run, device: torch.device):
    """The trained model as the sweep samples it: `sample_weights`, run_sample's own sampler."""
    model, state = load_trained(run, device)
    decode = decoder(run, model.cfg.target)

    def weights(s, labels, seed, batch_size, progress):
        return sample_weights(model, labels, s, seed, batch_size, progress, decode)

    return SweepSampler(weights, state, model.cfg.n_classes, {"kind": KIND})
