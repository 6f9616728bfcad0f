"""Occupancy grid -> triangle mesh (marching cubes), and the mesh files a user can open in any 3D viewer.

The grid is a field sampled at cell centres of [-1, 1]^3 (`grid_coords`), so a vertex's voxel index maps to space by
the same affine map, exactly. The grid is padded by one "outside" cell on every side before marching, so a shape that
touches the cube's border still gives a closed surface (its border vertices are clipped back into [-1, 1])."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nfgen_tui.workspace import atomic_write_bytes


def grid_coords(resolution: int) -> np.ndarray:
    """The 1-D cell-centre coordinates `(i + 0.5) / R * 2 - 1` a field is sampled at along each axis (float32 [R])."""
    return ((np.arange(resolution, dtype=np.float64) + 0.5) / resolution * 2 - 1).astype(np.float32)


def grid_points(resolution: int) -> np.ndarray:
    """All R^3 sample points, x-major (index [i, j, k] of the grid is row i*R*R + j*R + k): float32 [R^3, 3]."""
    c = grid_coords(resolution)
    return np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).reshape(-1, 3)


def empty_mesh() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)


def extract_mesh(grid: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Surface where `grid` crosses `level` (inside = above it): verts float32 [V, 3] in [-1, 1], faces int64 [F, 3].

    Faces are wound counter-clockwise seen from outside (normals point out of the solid, trimesh's volume is
    positive). A grid entirely on one side of `level` has no surface: zero vertices and zero faces, no exception."""
    from skimage.measure import marching_cubes  # lazy: scikit-image costs ~0.3 s to import

    grid = np.asarray(grid, dtype=np.float32)
    if grid.ndim != 3 or len(set(grid.shape)) != 1:
        raise ValueError(f"extract_mesh needs a cubic [R, R, R] grid, got shape {grid.shape}")
    finite = grid[np.isfinite(grid)]
    if finite.size == 0 or finite.max() <= level or finite.min() > level:
        return empty_mesh()
    r = grid.shape[0]
    outside = np.float32(min(float(finite.min()), level) - 1.0)
    padded = np.pad(np.nan_to_num(grid, nan=outside), 1, constant_values=outside)
    verts, faces, _, _ = marching_cubes(padded, level=level, gradient_direction="descent")
    faces = faces[:, [0, 2, 1]]  # skimage winds them inward for x-y-z axis order (trimesh volume < 0); flip
    verts = (verts - 1.0 + 0.5) / r * 2.0 - 1.0  # padded index -> grid index -> cell-centre coordinate
    return np.clip(verts, -1.0, 1.0).astype(np.float32), faces.astype(np.int64)


def obj_bytes(verts: np.ndarray, faces: np.ndarray) -> bytes:
    lines = [f"# nfgen mesh: {len(verts)} vertices, {len(faces)} faces"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(verts, dtype=np.float64)]
    lines += [f"f {a} {b} {c}" for a, b, c in np.asarray(faces, dtype=np.int64) + 1]  # OBJ counts from 1
    return ("\n".join(lines) + "\n").encode()


def ply_bytes(verts: np.ndarray, faces: np.ndarray) -> bytes:
    """Binary little-endian PLY: compact and read by every viewer (MeshLab, Blender, trimesh)."""
    verts = np.ascontiguousarray(verts, dtype="<f4")
    faces = np.asarray(faces, dtype=np.int64)
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
              f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n").encode()
    rows = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    rows["n"] = 3
    rows["idx"] = faces
    return header + verts.tobytes() + rows.tobytes()


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    atomic_write_bytes(Path(path), obj_bytes(verts, faces))


def write_ply(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    atomic_write_bytes(Path(path), ply_bytes(verts, faces))
