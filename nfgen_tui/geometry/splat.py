"""Previews of point clouds (a dataset's true surface samples) with no mesh: each point splatted as a pixel square,
the nearest point per pixel kept (a z-buffer) and shaded by its depth, nearer = brighter. The camera is
`geometry.shade`'s (same rotation, same framing), so a dataset's shapes and a run's generated meshes line up."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .shade import HALF_WIDTH, view_rotation

NEAR, FAR = 1.0, 0.3  # brightness of the nearest and the farthest possible depth


def splat_views(points: np.ndarray, size: int = 28, azimuths: Sequence[float] = (30,), elevation: float = 25,
                splat: int = 1) -> np.ndarray:
    """uint8 [len(azimuths), size, size] depth-shaded views of one cloud [S, 3] in [-1, 1]^3; background 0.
    `splat`: a point covers a (2·splat − 1)² pixel square, so sparse clouds read as surfaces."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(1)]
    out = np.zeros((len(azimuths), size, size), np.uint8)
    if len(pts) == 0:
        return out
    offsets = [(dx, dy) for dx in range(1 - splat, splat) for dy in range(1 - splat, splat)]
    for k, azimuth in enumerate(azimuths):
        cam = pts @ view_rotation(azimuth, elevation).T
        px = np.floor((cam[:, 0] / HALF_WIDTH + 1) / 2 * size).astype(np.int64)
        py = np.floor((1 - cam[:, 1] / HALF_WIDTH) / 2 * size).astype(np.int64)
        depth = -cam[:, 2]  # the camera sits at +z
        best = np.full(size * size, np.inf)
        for dx, dy in offsets:
            x, y = px + dx, py + dy
            ok = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            np.minimum.at(best, y[ok] * size + x[ok], depth[ok])
        hit = np.isfinite(best)
        t = np.clip((best[hit] + np.sqrt(3)) / (2 * np.sqrt(3)), 0, 1)  # depth in [-√3, √3] → 0 near … 1 far
        img = np.zeros(size * size)
        img[hit] = (NEAR + (FAR - NEAR) * t) * 255
        out[k] = np.rint(img).reshape(size, size).astype(np.uint8)
    return out
