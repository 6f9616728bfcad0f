"""One training session of a generator, the same for every kind: resume from `transformer/ckpt/`, wrap the model for
DDP / compile, checkpoint and log through the loop's hooks, end as an interruption on a signal, write the report.

The GPT (model/stage.py) and the denoiser (model/diffusion/stage.py) differ only in what they check on a checkpoint
and in the loop they run, so a third generator brings those two and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from .. import device as devmod
from ..distributed import Ranks, rank_device, ranks
from ..errors import UserError
from ..interrupts import stop_requests
from ..progress import ProgressFn, null_progress
from ..workspace import Run, atomic_write_json, read_json
from . import checkpoint as ckpt
from .generator import check_kind
from .train import LoopHooks, LoopResult, Resume


def retrain_hint(run: Run) -> str:
    """The way out of a refused checkpoint: train from scratch (this removes the old checkpoint, as asked)."""
    return f"rerun `nfgen train {run.name} --force` to train from scratch"


def train_stage(run: Run, default_iters: int, kind: str, device: str, iters: int | None, force: bool,
                train: Callable[[int, torch.device, Ranks], dict]) -> dict:
    """The train stage's frame, the same for every generator: the step target, a finished report of this `kind`
    returned as is (another kind's is refused), the ranks, the stage lock, `force` starting over, then
    `train(target, device, ranks)`."""
    target = default_iters if iters is None else int(iters)
    if target <= 0:
        raise UserError(f"--iters must be > 0, got {target}")
    out = run.stage_dir("train")
    report_path = out / "report.json"
    if report_path.exists() and not force:
        report = read_json(report_path, retrain_hint(run))
        check_kind(report, kind, report_path, run.name)
        if report.get("step", 0) >= target:
            return report
    dev = rank_device(devmod.resolve(device))
    with ranks(dev) as d:
        lock = run.stage("train") if d.is_main else contextlib.nullcontext()
        with lock:
            if force:
                start_over(out, d)
            return train(target, dev, d)


def sized_train_stage(run: Run, kind: str, section: str, device: str | None, iters: int | None, force: bool,
                      train: Callable) -> dict:
    """`train_stage` for a generator whose config section `section` holds its own iters / batch_size / lr / min_lr
    (the denoiser's `diffusion`, the ar-diffusion's `ar`): `train(cfg, tc, target, device, ranks)` with `tc` being
    train.* with those four in place of the GPT's (warmup, class dropout and the cadence stay train.*'s)."""
    run.require()
    cfg = run.config()
    own = getattr(cfg, section)
    tc = dataclasses.replace(cfg.train, iters=own.iters, batch_size=own.batch_size, lr=own.lr, min_lr=own.min_lr)
    return train_stage(run, tc.iters, kind, device or cfg.device, iters, force,
                       lambda target, dev, d: train(cfg, tc, target, dev, d))


def start_over(out: Path, d: Ranks) -> None:
    """`nfgen train RUN --force`: remove the checkpoint (and its half-swapped twin) and the report, under the lock."""
    if d.is_main:
        (out / "report.json").unlink(missing_ok=True)
        for name in ("ckpt", ".ckpt.old"):
            shutil.rmtree(out / name, ignore_errors=True)
    if d.world > 1:
        dist.barrier()


def check_identity(state: dict, want: dict, where: Path, fix: str, what: str, inputs: str,
                   defaults: dict | None = None) -> None:
    """Refuse a checkpoint made for another network: `want` (what this run's config builds) against the `model`
    entry its state.json recorded, naming each difference and the way out `fix`. A key the checkpoint lacks was
    added since it was written: it counts as its value in `defaults` (what every checkpoint before it was)."""
    theirs = {**(defaults or {}), **(state.get("model") or {})}
    diff = [f"{k} {theirs.get(k)!r} → {v!r}" for k, v in want.items() if theirs.get(k) != v]
    if diff:
        raise UserError(f"checkpoint {where} was made for another {what} ({'; '.join(diff)}): the config or the "
                        f"{inputs} changed since; {fix}")


def trained_checkpoint(run: Run, kind: str, what: str) -> tuple[dict, dict, Path, str]:
    """(state, model tensors, folder, way out) of the run's last checkpoint, for sampling: refused when there is none
    (`what`: "transformer", "denoiser") or it holds another generator than `kind`."""
    fix = retrain_hint(run)
    where = ckpt.find(run.stage_dir("train") / "ckpt", fix)
    if where is None:
        raise UserError(f"run {run.name!r} has no trained {what}: run `nfgen train {run.name}` first")
    state, tensors, _, _ = ckpt.load(where, fix)
    check_kind(state, kind, where, run.name)
    return state, tensors, where, fix


def trained_class_count(run: Run) -> int | None:
    """How many classes `run_sample` accepts as `digit`: the trained model's (its checkpoint's state.json alone, its
    `model.n_classes`); None before a checkpoint exists."""
    fix = retrain_hint(run)
    where = ckpt.find(run.stage_dir("train") / "ckpt", fix)
    if where is None:
        return None
    return int((ckpt.load_state(where, fix).get("model") or {}).get("n_classes", 0)) or None


def load_weights(model: torch.nn.Module, tensors: dict, where: Path, fix: str, what: str) -> None:
    """The checkpoint's tensors into `model`, or one line saying they do not fit it."""
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise UserError(f"checkpoint {where} does not fit the {what}: {str(e).splitlines()[0]}; {fix}") from None


def resume_checkpoint(run: Run, out: Path, model: torch.nn.Module, opt, kind: str, class_dropout: float, d: Ranks,
                      check: Callable[[dict, Path, str], None], what: str) -> tuple[Resume, dict]:
    """Load the latest checkpoint into `model` and `opt` (and the RNG), after refusing one of another kind, one that
    `check(state, where, fix)` rejects, or one trained with another class dropout; a fresh run resumes at step 0."""
    fix = retrain_hint(run)
    where = ckpt.find(out / "ckpt", fix)
    if where is None:
        return Resume(), {}
    state, model_t, opt_sd, rng_t = ckpt.load(where, fix)
    check_kind(state, kind, where, run.name)
    check(state, where, fix)
    if float(state.get("class_dropout", 0.0)) != class_dropout:
        raise UserError(f"checkpoint {where} was trained with train.class_dropout "
                        f"{float(state.get('class_dropout', 0.0)):g}, the config now says {class_dropout:g}: "
                        f"set it back, or {fix}")
    try:
        model.load_state_dict(model_t)
        opt.load_state_dict(opt_sd)
    except (RuntimeError, ValueError, KeyError) as e:
        raise UserError(f"checkpoint {where} does not fit the {what}: {str(e).splitlines()[0]}; {fix}") from None
    ckpt.set_rng_state(rng_t, state["rng"])
    resume = Resume(int(state["step"]), state.get("val_loss"))
    if d.is_main:
        run.log_event("train", event="resume", step=resume.step)
    return resume, state


def train_session(run: Run, out: Path, model: torch.nn.Module, opt, tc, kind: str, meta: dict, dev: torch.device,
                  d: Ranks, progress: ProgressFn, resume: Resume,
                  loop: Callable[[torch.nn.Module, LoopHooks, Resume], LoopResult], sizes: dict) -> dict:
    """Run `loop(net, hooks, resume)` on the wrapped model; every checkpoint records `kind`, the step and losses,
    `meta` (the model identity, seed and data digest), the world size and class dropout. A signal ends as
    KeyboardInterrupt after its checkpoint (the stage reads "interrupted"); a finished run writes report.json with
    `sizes` (the train / val counts)."""
    net = model
    if d.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if tc.compile:
        net = torch.compile(net)
    t0 = time.time()

    def save(step, loss, v_loss):
        if d.is_main:
            ckpt.save(out / "ckpt", model.state_dict(), opt,
                      {"kind": kind, "step": step, "loss": loss, "val_loss": v_loss, **meta, "world_size": d.world,
                       "class_dropout": tc.class_dropout})
        if d.world > 1:
            dist.barrier()

    def log(**fields):
        if d.is_main:
            run.log_event("train", **fields)

    with stop_requests() as should_stop:
        hooks = LoopHooks(checkpoint=save, log=log, progress=progress if d.is_main else null_progress,
                          should_stop=should_stop)
        res = loop(net, hooks, resume)
    if res.stopped == "signal":  # checkpointed; now end as an interruption, so the stage reads "interrupted"
        raise KeyboardInterrupt(f"training stopped by a signal at step {res.step} (checkpoint written)")
    result = {"step": res.step, "loss": res.loss, "val_loss": res.val_loss, "n_params": model.n_params(),
              "seconds": round(time.time() - t0, 2)}
    if res.step >= tc.iters and d.is_main:
        atomic_write_json(out / "report.json", {**result, "kind": kind, "iters": tc.iters, "model": meta["model"],
                                                "class_dropout": tc.class_dropout, **sizes})
    return result
