"""A small software renderer for previews of 3D samples: grey Lambert + ambient shading, a z-buffer, orthographic
views from a few azimuths. Pure numpy, vectorised over faces, so it runs headless (no OpenGL, no display) on any
server and in tests, and its images go to PNG files and terminal image widgets alike.

Camera: y is up; a view turns the shape by its azimuth about y, then tilts it by the elevation about x, and looks
along -z. The light comes from the viewer's upper left, fixed to the camera, so every view is lit the same way."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

HALF_WIDTH = 1.15  # the image spans [-1.15, 1.15] of the turned space: a [-0.9, 0.9] shape fills it, edge to edge
LIGHT = np.array([-0.45, 0.55, 0.7]) / np.linalg.norm([-0.45, 0.55, 0.7])  # camera space: upper left, in front
AMBIENT = 0.25
CREASE_DEGREES = 40
MAX_CANDIDATES = 1 << 22  # (face, pixel) pairs tested at once: bounds memory on big meshes


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    a, e = math.radians(azimuth), math.radians(elevation)
    turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    return tilt @ turn


def _unit(v: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(length > 0, length, 1.0)


def corner_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Normal at each face corner [F, 3, 3]: the area-weighted average of the faces sharing the vertex (smooth
    shading hides marching cubes' facets), except across a crease sharper than CREASE_DEGREES, where the face's own
    normal keeps a box's edges sharp."""
    tri = verts[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 × area
    smooth = np.zeros_like(verts)
    for corner in range(3):
        np.add.at(smooth, faces[:, corner], face_n)
    smooth, face_n = _unit(smooth)[faces], _unit(face_n)[:, None, :]
    crease = (smooth * face_n).sum(-1, keepdims=True) < math.cos(math.radians(CREASE_DEGREES))
    return np.where(crease, face_n, smooth)


def _candidates(px: np.ndarray, py: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (face, pixel centre) pair inside each face's clipped bounding box: face index, column, row."""
    x0 = np.clip(np.ceil(px.min(1)), 0, n).astype(np.int64)
    x1 = np.clip(np.floor(px.max(1)), -1, n - 1).astype(np.int64)
    y0 = np.clip(np.ceil(py.min(1)), 0, n).astype(np.int64)
    y1 = np.clip(np.floor(py.max(1)), -1, n - 1).astype(np.int64)
    w, h = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    counts = w * h
    face = np.repeat(np.arange(len(px)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return face, x0[face] + local % w[face], y0[face] + local // w[face]


def _face_chunks(fx: np.ndarray, fy: np.ndarray) -> list[slice]:
    """Runs of consecutive faces whose bounding boxes together hold about MAX_CANDIDATES pixels (a run may exceed it
    by its last face's box), so the (face, pixel) arrays stay bounded on big meshes."""
    boxes = (np.ptp(fx, 1) + 2) * (np.ptp(fy, 1) + 2)
    window = (np.cumsum(boxes) - boxes) // MAX_CANDIDATES  # which budget window each face starts in
    bounds = [0, *(np.flatnonzero(np.diff(window)) + 1), len(boxes)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _rasterise(cam: np.ndarray, normals: np.ndarray, faces: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of an n × n image: the nearest surface's shade (float [n*n]) and whether anything covers it."""
    px = (cam[:, 0] / HALF_WIDTH + 1) / 2 * n - 0.5
    py = (1 - cam[:, 1] / HALF_WIDTH) / 2 * n - 0.5
    depth = -cam[:, 2]  # the camera sits at +z: nearer = larger z = smaller depth
    fx, fy = px[faces], py[faces]
    area = (fx[:, 1] - fx[:, 0]) * (fy[:, 2] - fy[:, 0]) - (fx[:, 2] - fx[:, 0]) * (fy[:, 1] - fy[:, 0])
    keep = np.abs(area) > 1e-12
    faces, normals, fx, fy, area = faces[keep], normals[keep], fx[keep], fy[keep], area[keep]
    best_depth = np.full(n * n, np.inf)
    shade = np.zeros(n * n)
    for sl in _face_chunks(fx, fy):
        face, cx, cy = _candidates(fx[sl], fy[sl], n)
        if len(face) == 0:
            continue
        x, y, a = fx[sl][face], fy[sl][face], area[sl][face]
        w0 = ((x[:, 1] - cx) * (y[:, 2] - cy) - (x[:, 2] - cx) * (y[:, 1] - cy)) / a
        w1 = ((x[:, 2] - cx) * (y[:, 0] - cy) - (x[:, 0] - cx) * (y[:, 2] - cy)) / a
        bary = np.stack([w0, w1, 1 - w0 - w1], axis=1)
        inside = (bary >= -1e-9).all(1)
        face, cx, cy, bary = face[inside], cx[inside], cy[inside], bary[inside]
        corners = faces[sl][face]
        z = (bary * depth[corners]).sum(1)
        pix = cy * n + cx
        order = np.lexsort((z, pix))  # by pixel, nearest first
        first = order[np.unique(pix[order], return_index=True)[1]]
        pix, z = pix[first], z[first]
        nearer = z < best_depth[pix]
        pix, z, first = pix[nearer], z[nearer], first[nearer]
        nrm = (bary[first, :, None] * normals[sl][face[first]]).sum(1)
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        nrm *= np.where(nrm[:, 2:3] < 0, -1.0, 1.0)  # two-sided: a surface seen from behind is lit like its front
        best_depth[pix] = z
        shade[pix] = AMBIENT + (1 - AMBIENT) * np.clip(nrm @ LIGHT, 0, 1)
    return shade, np.isfinite(best_depth)


def render_views(verts: np.ndarray, faces: np.ndarray, size: int = 96, azimuths: Sequence[float] = (30, 120, 210, 300),
                 elevation: float = 25, background: int = 0, supersample: int = 2) -> np.ndarray:
    """Grey renders of one mesh from each azimuth: uint8 [len(azimuths), size, size], shape pixels in
    [AMBIENT·255, 255], `background` elsewhere (a mesh with no faces renders background only). Each view is drawn
    at `supersample` times the size and averaged down, which smooths the silhouette."""
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    faces = faces[np.isfinite(verts[faces]).all(axis=(1, 2))]  # a NaN vertex (a diverged field) drops its faces
    out = np.full((len(azimuths), size, size), background, dtype=np.uint8)
    if len(faces) == 0:
        return out
    n = size * supersample
    normals = corner_normals(verts, faces)
    for k, azimuth in enumerate(azimuths):
        rot = view_rotation(azimuth, elevation)
        shade, covered = _rasterise(verts @ rot.T, normals @ rot.T, faces, n)
        img = np.where(covered, shade * 255.0, float(background)).reshape(size, supersample, size, supersample)
        out[k] = np.clip(np.rint(img.mean(axis=(1, 3))), 0, 255).astype(np.uint8)
    return out


def view_grid(renders: Sequence[np.ndarray], shapes_per_row: int = 1, pad: int = 2, background: int = 0) -> np.ndarray:
    """Tile renders (one [n_views, H, W] array per shape) into one uint8 image: each shape's views side by side,
    `shapes_per_row` shapes per row of the grid, `pad` background pixels around every view."""
    if len(renders) == 0:
        return np.full((pad, pad), background, np.uint8)
    views, h, w = np.asarray(renders[0]).shape
    rows = math.ceil(len(renders) / shapes_per_row)
    cell_h, cell_w = h + pad, w + pad
    grid = np.full((rows * cell_h + pad, shapes_per_row * views * cell_w + pad), background, np.uint8)
    for i, shape_views in enumerate(renders):
        r, c = divmod(i, shapes_per_row)
        for v, img in enumerate(np.asarray(shape_views)):
            top, left = pad + r * cell_h, pad + (c * views + v) * cell_w
            grid[top:top + h, left:left + w] = img
    return grid
