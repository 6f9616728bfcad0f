"""Fields fitted in a shared subspace (`fields.subspace = k`): weights = w0 + μ + B·c, only c (k numbers) per field.
Any modality: what a field is fitted to comes from `Modality.batches` (images: every pixel at every step; shapes:
the step's seeded subset of their occupancy samples), and the per-field score from `Modality.score` (PSNR, IoU).

Ordinary fitted weights use all their P dimensions, so no quantizer of them gets much shorter than one token per
weight or two. Constraining the fit makes the weights compressible instead: B (P × k) and μ (P) are shared and learned
jointly with every training field's c (one full-batch Adam over all of them), held-out fields fit only c with B and
μ frozen, for as many steps (measured on 100 held-out digits, k = 128: 300 steps from c = 0 left them at 31.1 dB,
900 reached 37.6 dB — the training fields' level, so B generalises and the short fit was the gap). The result is
still an ordinary MLP per field: `weights.safetensors` holds the flat w0 + μ + B·c, which renders, exports and
evaluates exactly as any field; `subspace.safetensors` holds B, μ, w0 and c for the generators and the tokens stage.

Gradients reuse the fitter's hand-written per-field gradient g = dL/dW [N, P]: dL/dc = g·B, dL/dB = gᵀ·c,
dL/dμ = Σ g. Start: B and μ from the PCA of ordinary fits of `fields.subspace_warm` training fields (B's columns
scaled to the spread of their component, so c starts near unit scale), c = 0.

Resume: the joint phase stores c, B, μ and Adam's moments every `CKPT_EVERY` steps (`subspace_state.safetensors`,
tagged with the config key); everything is full-batch and deterministic, so a resumed run equals an uninterrupted
one. Held-out fields are fitted in chunk files like the ordinary fitter's. Under torchrun the ranks split the
training chunks and sum the gradients of B, μ and c.
"""

from __future__ import annotations

import math
import shutil
import time

import numpy as np
import torch
from safetensors.torch import load_file

from ..errors import UserError
from ..workspace import Run, atomic_write_json, atomic_write_text, read_json, read_tensors
from ..distributed import Ranks
from .fit import BatchFn, _adam, adam_fit, field_lr
from .functional import Scratch, loss_and_grad
from .init import seeded_init, weight_spread
from .fit_files import chunk_key, is_tagged, save_tagged, shared_init, tag_of
from .layout import Layout, layout_from_config

STATE_FILE = "subspace_state.safetensors"
SUBSPACE_FILE = "subspace.safetensors"
CKPT_EVERY = 50
LOG_EVERY = 25


def flat_weights(c: torch.Tensor, basis: torch.Tensor, mu: torch.Tensor, w0: torch.Tensor) -> torch.Tensor:
    """c [N, k] → the fields' ordinary flat weights [N, P] = w0 + μ + B·c."""
    return torch.addmm((w0 + mu).unsqueeze(0), c, basis.T)


def load_subspace(run: Run) -> dict[str, torch.Tensor]:
    """B [P, k], mu [P], w0 [P], c [N, k] of a run fitted with fields.subspace > 0 (a UserError otherwise)."""
    path = run.stage_dir("fit") / SUBSPACE_FILE
    rep = read_json(run.stage_dir("fit") / "report.json") if run.is_done("fit") else {}
    if not path.exists() or not rep.get("subspace"):
        raise UserError(f"run {run.name!r} has fields fitted with fields.subspace = 0 (no subspace coordinates): "
                        f"codebook.mode subspace needs `nfgen init RUN --set fields.subspace=128` and a refit")
    t = read_tensors(path, f"refit with `nfgen fit {run.name} --force`")
    missing = [k for k in ("basis", "mu", "w0", "c") if k not in t]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}: refit with `nfgen fit {run.name} --force`")
    return t


class JointFit:
    """The joint phase's state (c of the training fields, B, μ) and its Adam, checkpointable at any step."""

    def __init__(self, c: torch.Tensor, basis: torch.Tensor, mu: torch.Tensor, lr_c: float, lr_shared: float):
        self.c = c.clone().requires_grad_(True)
        self.basis = basis.clone().requires_grad_(True)
        self.mu = mu.clone().requires_grad_(True)
        self.opt = torch.optim.Adam([{"params": [self.c], "lr": lr_c, "base": lr_c},
                                     {"params": [self.basis, self.mu], "lr": lr_shared, "base": lr_shared}],
                                    foreach=True)
        self.step = 0

    def state(self) -> dict[str, torch.Tensor]:
        t = {"c": self.c.detach(), "basis": self.basis.detach(), "mu": self.mu.detach(),
             "step": torch.tensor([self.step])}
        for name, p in (("c", self.c), ("basis", self.basis), ("mu", self.mu)):
            s = self.opt.state.get(p)
            if s:
                t[f"{name}.exp_avg"], t[f"{name}.exp_avg_sq"] = s["exp_avg"], s["exp_avg_sq"]
                t[f"{name}.step"] = torch.as_tensor(s["step"], dtype=torch.float32).reshape(1)
        return {k: v.detach().cpu().contiguous() for k, v in t.items()}

    def restore(self, t: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in (("c", self.c), ("basis", self.basis), ("mu", self.mu)):
                p.copy_(t[name])
                if f"{name}.exp_avg" in t:
                    self.opt.state[p] = {"step": t[f"{name}.step"].reshape(()).clone(),
                                         "exp_avg": t[f"{name}.exp_avg"].to(p.device).clone(),
                                         "exp_avg_sq": t[f"{name}.exp_avg_sq"].to(p.device).clone()}
        self.step = int(t["step"][0])


def pca_start(deltas: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """μ and B [P, k] from ordinary fitted deltas [n, P]: the top-k principal directions, each scaled by its spread
    (columns beyond the sample's rank stay tiny random directions)."""
    mu = deltas.mean(0)
    x = (deltas - mu).double()
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    # a principal direction's sign is arbitrary, and LAPACK picks it by its own float order (thread count, CPU):
    # fix it (largest entry positive) so every process and machine starts the joint fit from the same B
    vt = vt * torch.sign(vt.gather(1, vt.abs().argmax(1, keepdim=True)))
    r = min(k, vt.shape[0])
    basis = torch.zeros(deltas.shape[1], k, dtype=torch.float64)
    basis[:, :r] = vt[:r].T * (s[:r] / math.sqrt(max(x.shape[0] - 1, 1)))[None, :]
    if r < k:
        g = torch.Generator().manual_seed(0)
        basis[:, r:] = torch.randn(deltas.shape[1], k - r, generator=g, dtype=torch.float64) * 1e-3
    return mu.float(), basis.float()


def fit_subspace(run: Run, cfg, dev: torch.device, rk: Ranks, progress, force: bool, mod) -> dict:
    """Stage 1 with `fields.subspace = k`: warm start, joint phase (resumable), held-out c fits (chunked), merge;
    `mod` is the run's modality (`nfgen_tui.modality.Modality`: what the fields fit to and how they score)."""
    t0, started = time.perf_counter(), time.time()
    fdir = run.stage_dir("fit")
    fc = cfg.fields
    k = fc.subspace
    if force and rk.is_main:
        for name in ("report.json", "weights.safetensors", "init.safetensors", "layout.json", STATE_FILE,
                     SUBSPACE_FILE, "subspace_warm.safetensors"):
            (fdir / name).unlink(missing_ok=True)
        shutil.rmtree(fdir / "chunks", ignore_errors=True)
    rk.barrier()
    layout = layout_from_config(fc, mod.dim, mod.target)
    if k > layout.n_params:
        raise UserError(f"config fields.subspace: {k} is more than the {layout.n_params} weights of a field")
    data = mod.load(cfg, cfg.data.root or run.workspace.datasets_dir)
    labels, split = data.labels, data.split
    n = len(labels)
    chunk = fc.gpu_chunk_size if dev.type == "cuda" else fc.chunk_size
    key = chunk_key(cfg, layout, n, chunk)
    if rk.is_main:
        atomic_write_text(fdir / "layout.json", layout.to_json())
    train_rows = torch.from_numpy(np.flatnonzero(np.asarray(split) == 0))
    held_rows = torch.from_numpy(np.flatnonzero(np.asarray(split) != 0))
    if len(train_rows) == 0:
        raise UserError(f"run {run.name!r} has no training fields to learn a subspace from")

    def batches(rows: torch.Tensor) -> BatchFn:
        return mod.batches(data, rows, layout, fc, cfg.seed, dev)

    template = shared_init(run, fc, cfg.seed, layout, key, rk,
                           lambda start: mod.fit(data, 0, 1, start.unsqueeze(0), layout, fc, cfg.seed, dev,
                                                 log_every=LOG_EVERY), mod.quality)
    w0 = (template if template is not None else seeded_init(layout, cfg.seed, 0)).float()

    # warm start: PCA of ordinary fits of a few training fields (rank 0, stored so a resume skips it)
    warm_path = fdir / "subspace_warm.safetensors"
    if rk.is_main and not is_tagged(warm_path, key, 0, 1):
        rows = train_rows[:max(fc.subspace_warm, 2)]
        progress(0, 1, phase="warm start")
        weights, _ = adam_fit(w0.unsqueeze(0).repeat(len(rows), 1), layout, batches(rows), steps=fc.steps,
                              lr=fc.lr, schedule=fc.schedule, device=dev)
        mu, basis = pca_start(weights.cpu() - w0, k)
        save_tagged(warm_path, {"mu": mu, "basis": basis}, {"key": key, "start": "0", "stop": "1", "mode": "subspace"})
    rk.barrier()
    warm = load_file(str(warm_path))

    # joint phase ------------------------------------------------------------------------------------------------
    steps = fc.subspace_steps
    jf = JointFit(torch.zeros(len(train_rows), k, device=dev), warm["basis"].to(dev), warm["mu"].to(dev),
                  fc.lr, fc.subspace_lr)
    state_path = fdir / STATE_FILE
    meta = tag_of(state_path)
    if meta is not None and meta.get("key") == key:
        jf.restore(load_file(str(state_path)))
    w0d = w0.to(dev)
    bounds = [(s, min(s + chunk, len(train_rows))) for s in range(0, len(train_rows), chunk)]
    mine = [(a, b, batches(train_rows[a:b])) for a, b in bounds[rk.rank::rk.world]]
    scratch = Scratch()
    t_joint = time.perf_counter()
    start_step = jf.step
    while jf.step < steps:
        for group in jf.opt.param_groups:
            group["lr"] = field_lr(jf.step, steps, group["base"], fc.schedule)
        gc = torch.zeros_like(jf.c)
        gb = torch.zeros_like(jf.basis)
        gm = torch.zeros_like(jf.mu)
        loss_sum = torch.zeros((), device=dev)
        with torch.no_grad():
            for a, b, batch in mine:
                feats, tg = batch(jf.step)
                w = flat_weights(jf.c[a:b], jf.basis, jf.mu, w0d)
                g, loss = loss_and_grad(w, layout, feats, tg, want_loss=True, scratch=scratch)
                gc[a:b] = g @ jf.basis
                gb.addmm_(g.T, jf.c[a:b])
                gm += g.sum(0)
                loss_sum += loss.sum()
            for t in (gc, gb, gm, loss_sum):
                rk.all_mean(t)
                t *= rk.world
        jf.c.grad, jf.basis.grad, jf.mu.grad = gc, gb, gm
        jf.opt.step()
        jf.step += 1
        loss_mean = float(loss_sum) / len(train_rows)
        if jf.step % LOG_EVERY == 0 or jf.step == steps:
            rate = (jf.step - start_step) * len(train_rows) / max(time.perf_counter() - t_joint, 1e-9)
            if rk.is_main:
                run.log_event("fit", phase="subspace", step=jf.step, total=steps, loss=round(loss_mean, 6),
                              fields_per_s=round(rate, 2))
            progress(jf.step, steps, loss=loss_mean, phase="subspace", fields_per_s=rate)
        if rk.is_main and (jf.step % CKPT_EVERY == 0 or jf.step == steps):
            save_tagged(state_path, jf.state(), {"key": key, "mode": "subspace", "step": str(jf.step)})
    rk.barrier()
    basis, mu = jf.basis.detach(), jf.mu.detach()

    # held-out fields: c only, B and μ frozen, in chunk files ------------------------------------------------------
    held_bounds = [(i, s, min(s + chunk, len(held_rows))) for i, s in enumerate(range(0, len(held_rows), chunk))]
    for i, a, b in held_bounds[rk.rank::rk.world]:
        path = fdir / "chunks" / f"held_{i:05d}.safetensors"
        if is_tagged(path, key, a, b):
            continue
        def on_step(step, a=a, b=b):
            progress(a + (b - a) * step / steps, len(held_rows), phase="held-out")

        c = fit_coordinates(batches(held_rows[a:b]), torch.zeros(b - a, k, device=dev), basis, mu, w0d, layout,
                            steps=steps, lr=fc.lr, schedule=fc.schedule, on_step=on_step)
        save_tagged(path, {"c": c.cpu().contiguous()}, {"key": key, "start": str(a), "stop": str(b)})
    rk.barrier()
    if rk.is_main:
        report = _merge(run, cfg, layout, key, jf.c.detach(), basis, mu, w0, train_rows, held_rows, held_bounds,
                        mod, data, dev, rk, time.perf_counter() - t0, started)
    rk.barrier()
    return report if rk.is_main else read_json(fdir / "report.json")


def fit_coordinates(batch: BatchFn, c0: torch.Tensor, basis: torch.Tensor, mu: torch.Tensor, w0: torch.Tensor,
                    layout: Layout, *, steps: int, lr: float, schedule: str = "constant",
                    frozen: torch.Tensor | None = None, on_step=None) -> torch.Tensor:
    """Fit c [N, k] of N fields from `c0` with B, μ, w0 fixed (held-out fields; quantization-aware refinement), on
    `batch(step)` (`Modality.batches` of those fields).

    `frozen` [N, k] bool: coordinates kept at their `c0` value (already quantized ones). `on_step(step)` every
    LOG_EVERY steps."""
    dev = basis.device
    c = c0.to(dev).clone().requires_grad_(True)
    opt = _adam(c, lr)
    scratch = Scratch()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = field_lr(step, steps, lr, schedule)
        feats, tg = batch(step)
        with torch.no_grad():
            g, _ = loss_and_grad(flat_weights(c, basis, mu, w0), layout, feats, tg, scratch=scratch)
            gc = g @ basis
            if frozen is not None:
                gc[frozen.to(dev)] = 0.0
        c.grad = gc
        opt.step()
        if on_step is not None and ((step + 1) % LOG_EVERY == 0 or step + 1 == steps):
            on_step(step + 1)
    return c.detach()


def _merge(run: Run, cfg, layout: Layout, key: str, c_train, basis, mu, w0, train_rows, held_rows, held_bounds,
           mod, data, dev, rk, seconds: float, started: float) -> dict:
    fdir = run.stage_dir("fit")
    labels, split = data.labels, data.split
    n = len(labels)
    c = torch.zeros(n, basis.shape[1])
    c[train_rows] = c_train.cpu()
    for i, a, b in held_bounds:
        path = fdir / "chunks" / f"held_{i:05d}.safetensors"
        if not is_tagged(path, key, a, b):
            raise RuntimeError(f"held-out chunk {i} missing after fitting: {path}")
        c[held_rows[a:b]] = load_file(str(path))["c"]
    basis, mu, w0 = basis.cpu(), mu.cpu(), w0.cpu()
    weights = flat_weights(c, basis, mu, w0).contiguous()
    q = mod.quality
    with torch.no_grad():
        quality = mod.score(weights, layout, data, "cpu")
    save_tagged(fdir / SUBSPACE_FILE, {"basis": basis.contiguous(), "mu": mu.contiguous(), "w0": w0.contiguous(),
                                   "c": c.contiguous()}, {"key": key, "mode": "subspace"})
    save_tagged(fdir / "weights.safetensors",
            {"weights": weights, "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)),
             "split": torch.as_tensor(np.asarray(split, dtype=np.int64)), q: quality.float().contiguous()},
            {"key": key})
    train = torch.as_tensor(np.asarray(split)) == 0
    report = {
        "n_fields": n,
        "n_params": layout.n_params,
        "modality": mod.name,
        f"{q}_mean": round(float(quality.mean()), 3),
        f"{q}_p10": round(float(quality.quantile(0.1)), 3),
        f"{q}_min": round(float(quality.min()), 3),
        f"{q}_mean_train": round(float(quality[train].mean()), 3),
        f"{q}_mean_heldout": round(float(quality[~train].mean()), 3) if bool((~train).any()) else None,
        "seconds": round(seconds, 2),
        "fields_per_s": round(n / seconds, 2),
        "device": str(dev),
        "world_size": rk.world,
        "arch": layout.arch,
        "init": cfg.fields.init,
        "weight_spread": round(weight_spread(weights), 5),
        "steps": cfg.fields.steps,
        "lr": cfg.fields.lr,
        "schedule": cfg.fields.schedule,
        "chunk_size": cfg.fields.gpu_chunk_size if dev.type == "cuda" else cfg.fields.chunk_size,
        "subspace": basis.shape[1],
        "subspace_steps": cfg.fields.subspace_steps,
        "subspace_lr": cfg.fields.subspace_lr,
        "subspace_warm": cfg.fields.subspace_warm,
    }
    atomic_write_json(fdir / "report.json", report)
    run.log_event("fit", event="report", **{k: report[k] for k in ("n_fields", f"{q}_mean", "seconds")})
    return report
