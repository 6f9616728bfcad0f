"""Tiny analytic 3D shapes for tests: spheres and boxes with exact occupancy, in data3d's ShapeSet form."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def inside(kind: str, size: float, p: np.ndarray) -> np.ndarray:
    """Exact occupancy of a centred sphere (radius `size`) or cube (half side `size`) at points [M, 3]."""
    if kind == "sphere":
        return (np.linalg.norm(p, axis=-1) < size).astype(np.uint8)
    return (np.abs(p).max(axis=-1) < size).astype(np.uint8)


def surface(kind: str, size: float, n: int, rng) -> np.ndarray:
    d = rng.normal(size=(n, 3))
    if kind == "sphere":
        return (d / np.linalg.norm(d, axis=1, keepdims=True) * size).astype(np.float32)
    return (d / np.abs(d).max(axis=1, keepdims=True) * size).astype(np.float32)


def solids(per_class: int = 4, m: int = 512, s: int = 256, seed: int = 0):
    """`per_class` spheres then boxes of varied size: points half uniform in [-1, 1]^3, half near the surface."""
    rng = np.random.default_rng(seed)
    pts, occ, surf, labels = [], [], [], []
    for label, kind in enumerate(("sphere", "box")):
        for size in np.linspace(0.45, 0.85, per_class):
            sp = surface(kind, size, s, rng)
            near = surface(kind, size, m - m // 2, rng) + rng.normal(scale=0.05, size=(m - m // 2, 3))
            p = np.concatenate([rng.uniform(-1, 1, size=(m // 2, 3)), near]).astype(np.float32)
            pts.append(p)
            occ.append(inside(kind, size, p))
            surf.append(sp)
            labels.append(label)
    return SimpleNamespace(name="solids", points=np.stack(pts), occupancy=np.stack(occ), surface=np.stack(surf),
                           labels=np.asarray(labels, dtype=np.int64), classes=["sphere", "box"], skipped=[],
                           modality="occupancy3d")
