"""Stage 5 for shapes (modality `occupancy3d`): the sets of shapes compared the HyperDiffusion way.

Every set — generated and each baseline (held-out real, marginal tokens, a code run's marginal codes, train + noise,
built by `baselines` as in 2D) — and the reference (training fields, class-balanced, drawn without replacement with the run's seed) go through
the same code: each field's occupancy on an EVAL_GRID³ grid → marching cubes → `eval.surface_points` points sampled
on the surface (HyperDiffusion's 2,048 by default) (area-weighted, seeded) → each cloud normalised (`geometry.surface.normalize_points`: centred, divided by
its spread, as HyperDiffusion's evaluation does) → Chamfer distances (`chamfer.py`) → the same MMD / COV / 1-NNA
code as 2D (`metrics.generative`). A field with no surface becomes a cloud at the origin, which is far from every
real shape (it is counted, not dropped: `empty` per set).
Memorization: each shape's Chamfer distance to the nearest training shape's true surface (MEMO_POINTS points per
cloud, to keep the all-pairs cost down); the rate counts shapes nearer than the 5th percentile of the held-out real
shapes' own nearest-training distances — closer to a training shape than almost any genuinely new shape comes.
Class score: the point classifier (`classifier.py`), trained on the training split's true surfaces (cached in the workspace).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ...errors import UserError
from ...geometry.surface import normalize_points, sample_surface
from ...metrics import baselines
from ...metrics.eval_inputs import EvalInputs
from ...metrics.generative import Distances, per_class_rows, set_metrics
from ...metrics.memorization import QUANTILES
from ...metrics.phases import Phases
from ...metrics.sets import balanced_subset
from ...progress import ProgressFn
from . import fields as occupancy
from .chamfer import chamfer_pairs
from .classifier import get_classifier3d, score3d

EVAL_GRID = 48  # occupancy grid per side for every evaluated set
MEMO_POINTS = 128  # per cloud for the nearest-training search (every training shape: the costliest pairs)
MEMO_QUANTILE = 0.05
BASELINES = ("held-out real", "marginal", "train + noise")
PUBLISHED = [
    {"name": "published ref", "mmd": 0.097, "cov": 0.388, "nna": 0.904,
     "note": "the reference's ShapeNet airplanes (MMD given as Chamfer × 10² = 9.7): different data"},
    {"name": "published HD", "mmd": 0.034, "cov": 0.49, "nna": 0.693,
     "note": "HyperDiffusion, ICCV 2023, ShapeNet airplanes (MMD × 10² = 3.4): different data"},
]


def clouds(weights: torch.Tensor, layout, seed: int, points: int) -> tuple[np.ndarray, int]:
    """Surface clouds [N, points, 3] of fields (not normalised) and how many fields had no surface."""
    out, empty = [], 0
    for i, (v, f) in enumerate(occupancy.meshes(weights, layout, EVAL_GRID)):
        empty += int(len(f) == 0)
        out.append(sample_surface(v, f, points, seed + i))
    return (np.stack(out) if out else np.zeros((0, points, 3), np.float32)), empty


def _norm(c: np.ndarray) -> torch.Tensor:
    return normalize_points(torch.as_tensor(c, dtype=torch.float32))


def _subsample(c: np.ndarray, k: int) -> np.ndarray:
    return c[:, :k] if c.shape[1] <= k else c[:, np.linspace(0, c.shape[1] - 1, k).astype(np.int64)]


def evaluate(run, cfg, inputs: EvalInputs, dev: torch.device, progress: ProgressFn) -> dict:
    """The run's default sample and the baselines (a code run's `marginal codes` too) against the reference:
    eval/metrics.json's content."""
    t0 = time.perf_counter()
    ec, seed = cfg.eval, cfg.seed
    steps = Phases(run, progress, 3 + 1 + len(BASELINES) + (inputs.codes is not None))
    weights, labels, split, layout = inputs.weights, inputs.labels, inputs.split, inputs.layout
    gen_w, gen_l, sample_dir = inputs.generated, inputs.generated_labels, inputs.sample_dir
    data = occupancy.load(cfg, cfg.data.root or run.workspace.datasets_dir)
    if len(data.labels) != len(labels) or not np.array_equal(data.labels, labels.numpy()):
        raise UserError(f"the fitted fields of run {run.name!r} do not match its dataset selection: "
                        f"refit with `nfgen fit {run.name} --force`")
    train_idx = torch.nonzero(split == 0).flatten()
    n = min(ec.set_size, len(gen_l), len(train_idx))
    if n < 2:
        raise UserError(f"too few shapes to evaluate: {len(gen_l)} generated, {len(train_idx)} training fields "
                        f"(eval.set_size {ec.set_size})")
    ref_pick = train_idx[balanced_subset(labels[train_idx].numpy(), n, seed)]
    pts = ec.surface_points
    ref, ref_empty = clouds(weights[ref_pick], layout, seed, pts)
    ref_l = labels[ref_pick]
    gen_pick = torch.as_tensor(balanced_subset(gen_l.numpy(), n, seed + 1))
    sets: dict[str, tuple[torch.Tensor, torch.Tensor]] = {"generated": (gen_w[gen_pick], gen_l[gen_pick])}
    hw, hl = baselines.held_out(weights, labels, split, n, seed + 2)
    if len(hl) >= 2:
        sets["held-out real"] = (hw, hl)
    want = ref_l.numpy()
    sets["marginal"] = (inputs.marginal(want, seed + 3), torch.as_tensor(want))
    if inputs.codes is not None:
        sets[baselines.CODES] = (inputs.codes(want, seed + 5), torch.as_tensor(want))
    nw, nl, noise = baselines.train_plus_noise(weights, labels, split, n, seed + 4, ec.noise_std)
    sets["train + noise"] = (nw, nl)
    steps("reference surfaces")

    train_np = split.numpy() == 0
    true_train = data.surface[train_np]
    held_true = data.surface[~train_np]
    model, clf = get_classifier3d(run.workspace, cfg.data.dataset, true_train, labels[split == 0].numpy(),
                                  len(data.classes), ec.classifier_epochs, seed,
                                  held=(held_true, labels[split != 0].numpy()), device=dev)
    steps("classifier")

    memo_train = _norm(_subsample(true_train, MEMO_POINTS))
    threshold = None
    if len(held_true):
        held_near = chamfer_pairs(_norm(_subsample(held_true, MEMO_POINTS)), memo_train, device=dev).min(1).values
        threshold = float(torch.quantile(held_near.double(), MEMO_QUANTILE))
    rr = chamfer_pairs(_norm(ref), device=dev)
    steps("reference distances")

    rows: dict[str, dict] = {}
    per_class: dict[str, dict] = {}
    for name, (w, lab) in sets.items():
        c, empty = clouds(w, layout, seed + 7, pts)
        k = min(len(c), n)
        g = _norm(c[:k])
        d = Distances(chamfer_pairs(g, device=dev), rr[:k, :k], chamfer_pairs(g, _norm(ref[:k]), device=dev))
        near = chamfer_pairs(_norm(_subsample(c[:k], MEMO_POINTS)), memo_train, device=dev).min(1).values
        rows[name] = {**set_metrics(d), **score3d(model, c[:k], lab[:k].numpy(), dev), **_memo(near, threshold),
                      "empty": empty}
        if name == "generated":
            per_class = per_class_rows(d, lab[:k], ref_l[:k], data.classes,
                                       lambda g: {**score3d(model, c[g], lab[g].numpy(), dev),
                                                  **_memo(near[g], threshold)})
        steps(f"{name}: distances")

    steps.finish()
    return {**rows.pop("generated"), "per_class": per_class, "baselines": rows, "reference_published": PUBLISHED,
            "distance": "Chamfer (squared nearest distances, mean each way, summed; normalised clouds)",
            "surface_points": pts, "eval_grid": EVAL_GRID, "set_size": ec.set_size,
            "n_train_shapes": int(train_np.sum()), "reference_empty": ref_empty,
            "memorization_threshold": threshold, "memorization_rule": f"Chamfer to the nearest training shape below "
            f"the {MEMO_QUANTILE:.0%} quantile of held-out real shapes' ({MEMO_POINTS} points)",
            "noise_std_mean": float(noise.mean()),
            "classifier": {**{k: clf.get(k) for k in ("dataset", "seed", "epochs", "accuracy", "n_train", "n_test",
                                                      "dir", "cached")}, "kind": "classifier3d on true surfaces"},
            "sample_id": sample_dir.name, "sample_dir": str(sample_dir), "n_generated_available": int(len(gen_l)),
            "eval_config": cfg.eval.__dict__, "seed": seed, "device": str(dev), "modality": "occupancy3d",
            "seconds": round(time.perf_counter() - t0, 2)}


def _memo(near: torch.Tensor, threshold: float | None) -> dict:
    v = near.double().numpy()
    if len(v) == 0:
        return {"memorization_rate": None, "memorization_quantiles": None}
    return {"memorization_rate": float((v < threshold).mean()) if threshold is not None else None,
            "memorization_quantiles": {k: float(np.quantile(v, q)) for k, q in QUANTILES.items()}}
