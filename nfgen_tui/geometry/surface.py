"""Points on a mesh's surface, and the per-cloud normalisation 3D generative metrics apply before Chamfer.

Sampling is area-weighted (a triangle is picked with probability proportional to its area, then a uniform point in
it), so a cloud's density does not depend on how finely marching cubes happened to tessellate a region."""

from __future__ import annotations

import numpy as np
import torch


def triangle_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = np.asarray(verts, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def sample_surface(verts: np.ndarray, faces: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` points uniformly distributed over the mesh's area: float32 [n, 3], the same for the same seed.

    A mesh without area (zero faces, e.g. a field that is empty everywhere) gives `n` copies of the origin, so sets of
    clouds still stack into one array; callers that must tell it apart check `len(faces) == 0` themselves.
    (HyperDiffusion's validation keeps an empty sample as an all-zero cloud like this; its test evaluation drops it.)"""
    areas = triangle_areas(verts, faces) if len(faces) else np.zeros(0)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        return np.zeros((n, 3), np.float32)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(faces), size=n, p=areas / total)
    tri = np.asarray(verts, dtype=np.float64)[np.asarray(faces, dtype=np.int64)[picked]]
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1  # fold the unit square onto the triangle: uniform barycentric coordinates
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    p = tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0])
    return p.astype(np.float32)


def normalize_points(points):
    """Centre each cloud on its mean and divide by the standard deviation of all its coordinates (one scalar per
    cloud), for arrays or tensors [..., S, 3]; returns the same kind.

    This follows HyperDiffusion's test-time evaluation (`hyperdiffusion.py`, `calc_metrics`), which normalises both
    the reference and the generated clouds this way before its PointFlow-derived Chamfer MMD / COV / 1-NNA, so
    Chamfer compares shapes, not their placement or size. A cloud with no spread (all points equal, e.g. the origin
    cloud of an empty mesh) is only centred."""
    is_tensor = isinstance(points, torch.Tensor)
    p = points if is_tensor else torch.as_tensor(np.asarray(points))
    shift = p.mean(dim=-2, keepdim=True)
    flat = p.reshape(*p.shape[:-2], -1)
    scale = flat.std(dim=-1, correction=1)[..., None, None] if flat.shape[-1] > 1 else torch.ones_like(shift[..., :1])
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    out = (p - shift) / scale
    return out if is_tensor else out.numpy()
