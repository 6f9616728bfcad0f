"""A fixed workspace for the TUI tests, written in the documented file formats (docs/contracts.md).

Deterministic on purpose (fixed timestamps, real mnist-5k digits as the "samples"), so snapshot tests compare
the same screen every time. The stage folders hold only what the screens read.
"""

from __future__ import annotations

import json

import numpy as np

from textual_image._terminal import CellSize, get_cell_size

from nfgen_tui import config as cfgmod
from nfgen_tui.workspace import Workspace, atomic_write_json

# textual-image sizes "auto" images by the terminal's cell shape, probed once per process: pin it (VT340's 10×20,
# what it assumes without a terminal) so layouts don't depend on where the tests run
get_cell_size._result = CellSize(10, 20)

T0 = 1_790_000_000.0


def _events(run, rows: list[dict]) -> None:
    with open(run.events_path, "a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def train_events(start: int, stop: int, every: int = 10, total: int = 400, t0: float = T0) -> list[dict]:
    """A decaying loss every `every` steps, val_loss every 100, 2 s per 10 steps, 4000 tokens/s."""
    out = []
    for step in range(start, stop + 1, every):
        ev = {"t": t0 + 2.0 * step / 10, "stage": "train", "step": step, "total": total,
              "loss": round(5.5 * np.exp(-step / 150) + 2.0, 4), "tokens_per_s": 4000.0}
        if step % 100 == 0 and step:
            ev["val_loss"] = round(5.5 * np.exp(-step / 150) + 2.2, 4)
        out.append(ev)
    return out


def metrics(shift: float) -> dict:
    per = {str(d): {"mmd": round(0.2 + 0.01 * d + shift, 4), "cov": round(0.4 - 0.01 * d, 4),
                    "nna": round(0.7 + 0.01 * d, 4), "classifier_accuracy": round(0.95 - 0.02 * d, 4)}
           for d in range(10)}
    return {"mmd": round(0.23 + shift, 4), "cov": 0.35, "nna": 0.78, "n_generated": 300, "n_reference": 300,
            "classifier_accuracy": 0.9, "memorization_rate": 0.02, "ssim": "gaussian",
            "baselines": {"train+noise": {"mmd": 0.25, "cov": 0.3, "nna": 0.85, "n_generated": 300,
                                          "n_reference": 300},
                          "random-init": {"mmd": 0.41, "cov": 0.05, "nna": 1.0, "n_generated": 300,
                                          "n_reference": 300}},
            "per_class": per}


def fixed_config() -> cfgmod.Config:
    """The quick preset with every value the screens show pinned: a preset change must not move a snapshot."""
    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["model.kind=gpt", "data.dataset=mnist-5k", "data.limit=0", "fields.arch=relu-pe", "fields.hidden=16,16", "fields.subspace=0", "diffusion.target=weights",
                               "fields.steps=500", "codebook.mode=scalar", "codebook.size=245", "model.n_layer=4",
                               "model.n_head=4", "model.n_embd=128", "train.iters=400", "train.batch_size=32",
                               "sample.temperature=0.8", "sample.top_k=3", "sample.top_p=1.0",
                               "sample.n_per_class=30", "sample.size=28", "sample.cfg=1.0", "train.class_dropout=0.0",
                               "device=auto"])
    return c


def build(root, mnist5k) -> Workspace:
    """`alpha`: every stage done, a sample of ten digits, metrics. `beta`: fields interrupted, metrics too."""
    ws = Workspace(root)
    alpha = ws.create_run("alpha", fixed_config())
    for stage in ("fit", "codebook", "train"):
        folder, marker = {"fit": ("fields", "report.json"), "codebook": ("codebook", "report.json"),
                          "train": ("transformer", "report.json")}[stage]
        atomic_write_json(alpha.dir / folder / marker, {"stage": stage})
    _events(alpha, [{"t": T0 - 100, "stage": "fit", "event": "start"},
                    {"t": T0 - 50, "stage": "fit", "step": 500, "total": 500, "loss": 0.05, "fields_per_s": 15.0},
                    {"t": T0 - 49, "stage": "fit", "event": "done"},
                    {"t": T0 - 1, "stage": "train", "event": "start"}] + train_events(0, 400)
            + [{"t": T0 + 81, "stage": "train", "event": "done"}])
    sample = alpha.dir / "samples" / "all-t0.8-k3-p1.0-n1-s0-28"
    sample.mkdir(parents=True)
    idx = [int(np.flatnonzero(mnist5k.labels == d)[0]) for d in range(10)]
    np.save(sample / "images.npy", mnist5k.images[idx].astype(np.float32))
    atomic_write_json(sample / "meta.json", {"digit": None, "labels": list(range(10)), "n": 1, "temperature": 0.8,
                                             "top_k": 3, "top_p": 1.0, "seed": 0, "size": 28})
    atomic_write_json(alpha.dir / "eval" / "metrics.json", metrics(0.0))

    beta = ws.create_run("beta", fixed_config())
    (beta.dir / "fields").mkdir()
    _events(beta, [{"t": T0, "stage": "fit", "event": "start"},
                   {"t": T0 + 10, "stage": "fit", "step": 100, "total": 500, "loss": 0.4, "fields_per_s": 14.0},
                   {"t": T0 + 20, "stage": "fit", "step": 200, "total": 500, "loss": 0.2, "fields_per_s": 15.0}])
    atomic_write_json(beta.dir / "eval" / "metrics.json", metrics(0.05))
    return ws


def _finished(run) -> None:
    """Mark fit, codebook and train done (the report files the stage states read)."""
    for folder in ("fields", "codebook", "transformer"):
        atomic_write_json(run.dir / folder / "report.json", {"stage": folder})


def denoiser_config() -> cfgmod.Config:
    """The quick preset's denoiser (a residual MLP over the codes of subspace fields), every value the screens show
    pinned."""
    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["model.kind=diffusion", "data.dataset=mnist-5k", "data.limit=0", "fields.arch=relu-pe",
                               "fields.hidden=16,16", "fields.subspace=128", "fields.steps=300",
                               "diffusion.target=codes", "diffusion.net=mlp", "diffusion.ema=0.999",
                               "diffusion.n_layer=4", "diffusion.n_head=4", "diffusion.n_embd=512",
                               "diffusion.iters=5000", "diffusion.batch_size=128", "sample.steps=50", "sample.eta=0.0",
                               "sample.cfg=1.5", "sample.n_per_class=30", "sample.size=28", "device=auto"])
    return c


def build_denoiser(root, mnist5k) -> Workspace:
    """`delta`: a denoiser run, every stage done, a DDIM sample of ten digits (real mnist-5k digits)."""
    ws = Workspace(root)
    run = ws.create_run("delta", denoiser_config())
    _finished(run)
    _events(run, [{"t": T0 - 1, "stage": "train", "event": "start"}]
            + train_events(0, 400, total=5000) + [{"t": T0 + 81, "stage": "train", "event": "done"}])
    sample = run.dir / "samples" / "all-n1-ddim50-eta0-cfg1.5-s0-px28-step5000"
    sample.mkdir(parents=True)
    idx = [int(np.flatnonzero(mnist5k.labels == d)[1]) for d in range(10)]
    np.save(sample / "images.npy", mnist5k.images[idx].astype(np.float32))
    atomic_write_json(sample / "meta.json", {"kind": "diffusion", "digit": None, "labels": list(range(10)), "n": 10,
                                             "steps": 50, "eta": 0.0, "cfg": 1.5, "seed": 0, "size": 28})
    return ws


def shaded_solids(size: int = 48) -> np.ndarray:
    """uint8 [4, 4, size, size]: spheres and cubes of two sizes, marching-cubed and shaded from four azimuths."""
    from nfgen_tui.geometry.mesh import extract_mesh, grid_points
    from nfgen_tui.geometry.shade import render_views

    p = grid_points(32)
    views = []
    for kind, r in (("sphere", 0.8), ("cube", 0.6), ("sphere", 0.5), ("cube", 0.8)):
        occ = np.linalg.norm(p, axis=-1) < r if kind == "sphere" else np.abs(p).max(axis=-1) < r
        verts, faces = extract_mesh(occ.reshape(32, 32, 32).astype(np.float32), 0.5)
        views.append(render_views(verts, faces, size=size))
    return np.stack(views)


def build_3d(root) -> Workspace:
    """`solids`: a quick3d GPT run, every stage done, a sample of four shaded shapes (four views each)."""
    ws = Workspace(root)
    c = cfgmod.preset("quick3d")
    cfgmod.apply_overrides(c, ["model.kind=gpt", "fields.subspace=0", "data.dataset=shapes", "sample.temperature=1.0", "sample.top_k=0",
                               "sample.top_p=0.9", "sample.cfg=1.5", "sample.n_per_class=8", "sample.size=48",
                               "device=auto"])
    run = ws.create_run("solids", c)
    _finished(run)
    sample = run.dir / "samples" / "all-n1-t1-k0-p0.9-cfg1.5-s0-px48-step800"
    sample.mkdir(parents=True)
    np.save(sample / "views.npy", shaded_solids())
    atomic_write_json(sample / "meta.json", {"digit": None, "labels": [0, 1, 2, 3], "n": 4, "temperature": 1.0,
                                             "top_k": 0, "top_p": 0.9, "cfg": 1.5, "seed": 0, "size": 48,
                                             "view_azimuths": [30, 120, 210, 300], "modality": "occupancy3d"})
    return ws
