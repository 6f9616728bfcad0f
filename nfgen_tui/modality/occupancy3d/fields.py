"""Fitting, scoring and rendering of modality `occupancy3d` (its declaration: `modality/occupancy3d/__init__.py`): a
field maps a point (x, y, z) in [-1, 1]^3 to an occupancy logit (1 = inside a solid).

Fitted with BCE-with-logits on each shape's own occupancy samples (uniform in the cube plus near the surface, from
`data.shapeset`), so unlike images the points differ per field: the fitter's features are [N, M, F], encoded on
the fly from a seeded subset of `fields.points_per_step` points per step (0 = all), the same subset index for every
field at a step, so a chunk's result does not depend on which other shapes share it. Every TEST_EVERY-th sample of
a shape (columns j with j % TEST_EVERY == TEST_EVERY - 1) is never fitted: the per-field score is the IoU of the
predicted occupancy (logit > 0) against the truth on those held-out points — a mix of uniform and near-surface
points, so it is stricter than the volumetric IoU on uniform points alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...data import shapes
from ...data.shapeset import load_shapes
from ...data.split import stratified_limit, stratified_split
from ...errors import UserError
from ...geometry.mesh import extract_mesh, write_obj, write_ply
from ...geometry.shade import render_views, view_grid
from ...workspace import atomic_path
from ...fields.fit import StepFn, adam_fit
from ...fields.functional import encode, forward, inputs

TEST_EVERY = 8
SCORE_CHUNK = 64  # fields scored at once (bounds memory: points × hidden per field)


@dataclass
class ShapeTargets:
    """The run's selected shapes (row i = field i): occupancy samples, surface points, labels, split, classes."""

    points: torch.Tensor  # float32 [N, M, 3] in [-1, 1]^3
    occupancy: torch.Tensor  # uint8 [N, M], 1 = inside
    surface: np.ndarray  # float32 [N, S, 3] points on the true surface (metrics)
    labels: np.ndarray
    split: np.ndarray
    classes: list[str]
    images = None  # no images: what a fitter needs of the shapes is `batches`

    def __len__(self) -> int:
        return len(self.labels)

    def fit_columns(self) -> torch.Tensor:
        m = self.points.shape[1]
        return torch.from_numpy(np.flatnonzero(np.arange(m) % TEST_EVERY != TEST_EVERY - 1))

    def test_columns(self) -> torch.Tensor:
        m = self.points.shape[1]
        return torch.from_numpy(np.flatnonzero(np.arange(m) % TEST_EVERY == TEST_EVERY - 1))


def select_shapes(ss, limit: int, holdout: float, seed: int) -> ShapeTargets:
    """The run's shapes: the same stratified limit and split rules as images (`data.split`)."""

    labels_all = np.asarray(ss.labels, dtype=np.int64)
    idx = stratified_limit(labels_all, limit, seed)
    labels = labels_all[idx]
    if len(labels) == 0:
        raise UserError(f"dataset {ss.name!r} selected no shapes: nothing to fit")
    return ShapeTargets(torch.from_numpy(np.ascontiguousarray(ss.points[idx], dtype=np.float32)),
                        torch.from_numpy(np.ascontiguousarray(ss.occupancy[idx], dtype=np.uint8)),
                        np.ascontiguousarray(ss.surface[idx], dtype=np.float32), labels,
                        stratified_split(labels, holdout, seed), list(ss.classes))


def load(cfg, root) -> ShapeTargets:
    """The run's shapes. For the built-in `shapes` with `data.limit` > 0, only ⌈limit / classes⌉ shapes per class are
    made (generating all of them would cost a quick run minutes), then the limit is drawn from those as usual."""

    kwargs = {}
    if cfg.data.dataset == "shapes" and cfg.data.limit > 0:
        kwargs["per_class"] = min(shapes.PER_CLASS, -(-cfg.data.limit // len(shapes.CLASSES)))
    return select_shapes(load_shapes(cfg.data.dataset, Path(root), **kwargs), cfg.data.limit, cfg.data.holdout,
                         cfg.seed)


def fit_occupancy(points: torch.Tensor, occupancy: torch.Tensor, init: torch.Tensor, layout, *, steps: int,
                  lr: float, schedule: str, points_per_step: int = 0, seed: int = 0,
                  device: torch.device | str = "cpu", on_step: StepFn | None = None,
                  log_every: int = 25) -> tuple[torch.Tensor, float]:
    """Fit N occupancy fields to their samples (points [N, M, 3], occupancy [N, M] in {0, 1}) from `init` [N, P].

    Step s uses the points `randperm(M, seed·1_000_003 + s)[:points_per_step]` of every field (all M when 0).
    Returns (weights [N, P] on CPU, final mean BCE)."""
    device = torch.device(device)
    pts = points.to(device=device, dtype=torch.float32)
    occ = occupancy.to(device=device, dtype=torch.float32)
    m = pts.shape[1]
    feats = encode(pts, layout)  # once: sin/cos of every point cost as much as a step's matmuls
    if points_per_step <= 0 or points_per_step >= m:
        def batch(step):
            return feats, occ
    else:
        def batch(step):
            idx = step_points(m, points_per_step, seed, step, device)
            return feats[:, idx], occ[:, idx]

    weights, loss = adam_fit(init, layout, batch, steps=steps, lr=lr, schedule=schedule, device=device,
                             on_step=on_step, log_every=log_every)
    return weights.cpu(), loss


def step_points(m: int, points_per_step: int, seed: int, step: int, device) -> torch.Tensor:
    """The sample columns every field fits at `step`: `randperm(m, seed·1_000_003 + step)[:points_per_step]`."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + step)
    return torch.randperm(m, generator=g)[:points_per_step].to(device)


def batches(data: ShapeTargets, rows: torch.Tensor, layout, fc, seed: int, device):
    """`batch(step)` of the shapes `rows` on their fit samples: the step's points (`step_points`, the same subset
    `fit` uses, all fit samples when `fields.points_per_step` is 0), encoded at every step (the encodings of every
    sample of every shape would be n × M × F floats: 0.7 GB for 2,160 shapes of 3,584 fit samples)."""
    cols = data.fit_columns()
    pts = data.points[rows][:, cols].to(device=device, dtype=torch.float32)
    occ = data.occupancy[rows][:, cols].to(device=device, dtype=torch.float32)
    m, pps = pts.shape[1], fc.points_per_step

    def batch(step):
        if pps <= 0 or pps >= m:
            return encode(pts, layout), occ
        idx = step_points(m, pps, seed, step, device)
        return encode(pts[:, idx], layout), occ[:, idx]

    return batch


def iou(logits: torch.Tensor, occupancy: torch.Tensor) -> torch.Tensor:
    """Per-field IoU [N] of (logit > 0) against occupancy [N, M]; 1 where both are empty."""
    pred, true = logits > 0, occupancy > 0.5
    inter = (pred & true).sum(1).float()
    union = (pred | true).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


@torch.no_grad()
def _logits_at(weights: torch.Tensor, layout, points: torch.Tensor, device) -> torch.Tensor:
    out = []
    for s in range(0, weights.shape[0], SCORE_CHUNK):
        w = weights[s:s + SCORE_CHUNK].to(device=device, dtype=torch.float32)
        out.append(forward(w, layout, encode(points[s:s + SCORE_CHUNK].to(device=device, dtype=torch.float32),
                                             layout)).cpu())
    return torch.cat(out) if out else torch.zeros(0, points.shape[1])


def fit(data: ShapeTargets, start: int, stop: int, init: torch.Tensor, layout, fc, seed: int, device,
        on_step=None, log_every: int = 25):
    """Shapes start…stop-1 fitted from `init`: (weights [n, P], IoU on held-out samples [n], final loss)."""
    cols = data.fit_columns()
    weights, loss = fit_occupancy(data.points[start:stop][:, cols], data.occupancy[start:stop][:, cols], init, layout,
                                  steps=fc.steps, lr=fc.lr, schedule=fc.schedule,
                                  points_per_step=fc.points_per_step, seed=seed, device=device, on_step=on_step,
                                  log_every=log_every)
    sub = ShapeTargets(data.points[start:stop], data.occupancy[start:stop], data.surface[start:stop],
                       data.labels[start:stop], data.split[start:stop], data.classes)
    return weights, score(weights, layout, sub, device), loss


def score(weights: torch.Tensor, layout, data: ShapeTargets, device) -> torch.Tensor:
    """IoU [N] of each field's occupancy against the truth on its shape's held-out samples (CPU)."""
    cols = data.test_columns()
    return iou(_logits_at(weights, layout, data.points[:, cols], device), data.occupancy[:, cols].float())


def agreement(weights_a: torch.Tensor, weights_b: torch.Tensor, layout, data: ShapeTargets, device) -> torch.Tensor:
    """IoU [N] between two versions of the same fields (quantized against unquantized) on the held-out samples."""
    pts = data.points[:, data.test_columns()]
    a = _logits_at(weights_a, layout, pts, device)
    b = _logits_at(weights_b, layout, pts, device)
    return iou(a, (b > 0).float())


@torch.no_grad()
def render(weights: torch.Tensor, layout, size: int = 32, batch: int = 64) -> torch.Tensor:
    """Occupancy probabilities [N, size, size, size] on the voxel-centre grid (axes x, y, z), on the weights'
    device; batched to bound memory."""
    if weights.dim() == 1:
        weights = weights.unsqueeze(0)
    weights = weights.float()
    feats = inputs(layout, size, weights.device)
    per = max(1, min(batch, (1 << 24) // max(1, size ** 3 * max(l.n_out for l in layout.layers))))
    out = [torch.sigmoid(forward(weights[i:i + per], layout, feats)) for i in range(0, weights.shape[0], per)]
    if not out:
        return torch.zeros(0, size, size, size, device=weights.device)
    return torch.cat(out).reshape(-1, size, size, size)


# samples ---------------------------------------------------------------------------------------------------------
VIEW_AZIMUTHS = (30, 120, 210, 300)  # views.npy and grid.png; the TUI turns through them with the arrow keys
VIEW_SIZE = 64


def meshes(weights: torch.Tensor, layout, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(verts [V, 3] in [-1, 1], faces [F, 3]) of each field's surface (occupancy 0.5) from a size³ grid; a field
    that is empty or full everywhere gives a mesh with no faces."""

    out = []
    for s in range(0, weights.shape[0], 16):
        grids = render(weights[s:s + 16], layout, size).cpu().numpy()
        out += [extract_mesh(g, 0.5) for g in grids]
    return out


def write_samples(out: Path, weights: torch.Tensor, labels: torch.Tensor, layout, size: int, per_row: int,
                  progress=None) -> dict:
    """A 3D sample folder: `meshes/shape_NNNN.obj` and `.ply` per shape, `views.npy` (uint8 [N, 4, 64, 64], shaded
    views at VIEW_AZIMUTHS), `grid.png` (the 4 views of every shape, a row of shapes per class when they fit)."""


    folder = out / "meshes"
    folder.mkdir(parents=True, exist_ok=True)
    views, empty = [], 0
    all_meshes = meshes(weights, layout, size)
    for i, (v, f) in enumerate(all_meshes):
        write_obj(folder / f"shape_{i:04d}.obj", v, f)
        write_ply(folder / f"shape_{i:04d}.ply", v, f)
        views.append(render_views(v, f, size=VIEW_SIZE, azimuths=VIEW_AZIMUTHS))
        empty += int(len(f) == 0)
        if progress is not None:
            progress(i + 1, len(all_meshes))
    views = np.stack(views) if views else np.zeros((0, len(VIEW_AZIMUTHS), VIEW_SIZE, VIEW_SIZE), np.uint8)
    with atomic_path(out / "views.npy") as p:
        with open(p, "wb") as fh:
            np.save(fh, views)
    grid = view_grid(list(views), shapes_per_row=max(1, min(per_row, 8)))
    with atomic_path(out / "grid.png") as p:
        Image.fromarray(grid).save(p, format="png")
    return {"meshes": len(all_meshes), "empty_meshes": empty, "view_azimuths": list(VIEW_AZIMUTHS)}
