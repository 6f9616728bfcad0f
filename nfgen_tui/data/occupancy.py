"""How occupancy samples are drawn, the same way for procedural shapes and user meshes.

Half the points are uniform in the cube [-1, 1]^3 (they teach a field where space is empty or full), half lie near
the surface (surface points plus Gaussian noise, as Occupancy Networks do), where the decision boundary is learnt.
"""

from __future__ import annotations

import numpy as np

N_SURFACE = 2048  # surface points kept per shape for metrics and previews (HyperDiffusion's count)
N_POINTS = 4096  # occupancy sample points per shape
NEAR_SIGMA = 0.03  # noise of the near-surface half, in cube units (the shape spans 1.8)
EXTENT = 0.9  # every shape's bounding box's longest side spans [-EXTENT, EXTENT]


def normalize_mesh(verts: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, scale) that put the bounding box's centre at the origin and its longest side on [-EXTENT, EXTENT]."""
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    side = float((hi - lo).max())
    return (lo + hi) / 2.0, (2.0 * EXTENT / side if side > 0 else 1.0)


def area_sample(verts: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points on the triangles, each triangle chosen in proportion to its area: a uniform surface density."""
    tri = verts[faces].astype(np.float64)  # F×3×3
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)  # twice the area
    cumulative = np.cumsum(area)
    which = np.minimum(np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right"), len(faces) - 1)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1.0  # reflect into the triangle so (u, v) stays uniform on it
    u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
    t = tri[which]
    return (t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])).astype(np.float32)


def query_points(near_base: np.ndarray, n: int, rng: np.random.Generator, sigma: float = NEAR_SIGMA) -> np.ndarray:
    """`n` points: n - n//2 uniform in [-1, 1]^3, then n//2 around `near_base` (surface points) with Gaussian noise,
    clipped to the cube the field is sampled on."""
    n_near = n // 2
    uniform = rng.uniform(-1.0, 1.0, size=(n - n_near, 3))
    base = near_base[rng.integers(0, len(near_base), size=n_near)]
    near = np.clip(base + rng.normal(0.0, sigma, size=(n_near, 3)), -1.0, 1.0)
    return np.concatenate([uniform, near]).astype(np.float32)


def valid_samples(arrays: dict[str, np.ndarray], n: int, n_points: int, n_surface: int) -> bool:
    """Whether (cached) arrays hold `n` shapes' samples of the expected shapes and types."""
    want = {"points": (np.float32, (n, n_points, 3)), "occupancy": (np.uint8, (n, n_points)),
            "surface": (np.float32, (n, n_surface, 3))}
    for k, (dtype, shape) in want.items():
        a = arrays.get(k)
        if a is None or a.dtype != dtype or a.shape != shape:
            return False
    labels = arrays.get("labels")
    return labels is None or (labels.dtype == np.int64 and labels.shape == (n,))
