"""Marching cubes on occupancy grids and the mesh files: checked against the analytic sphere and re-read by trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from nfgen_tui.geometry.mesh import extract_mesh, grid_coords, grid_points, write_obj, write_ply


def sphere_grid(resolution: int, radius: float, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    p = grid_points(resolution) - np.asarray(centre, np.float32)
    return (np.linalg.norm(p, axis=1) < radius).astype(np.float32).reshape(resolution, resolution, resolution)


def test_grid_coords_are_cell_centres_of_the_cube():
    assert np.allclose(grid_coords(4), [-0.75, -0.25, 0.25, 0.75])
    pts = grid_points(3)
    assert pts.shape == (27, 3)
    assert np.allclose(pts[1], [-2 / 3, -2 / 3, 0]) and np.allclose(pts[9], [0, -2 / 3, -2 / 3])  # x-major order


def test_sphere_occupancy_gives_a_closed_outward_sphere_of_the_right_size():
    r, res = 0.6, 40
    v, f = extract_mesh(sphere_grid(res, r), 0.5)
    dist = np.linalg.norm(v, axis=1)
    half_cell = 1.0 / res
    assert dist.min() >= r - half_cell and dist.max() <= r + half_cell
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.03)  # positive: faces wound outward
    assert v.dtype == np.float32 and f.dtype == np.int64


def test_vertex_coordinates_follow_the_grid_axes_exactly():
    """An off-centre sphere lands where it was put: x, y, z of the grid are x, y, z of the mesh."""
    centre = (0.3, -0.2, 0.1)
    v, _ = extract_mesh(sphere_grid(48, 0.4, centre), 0.5)
    assert np.allclose((v.max(0) + v.min(0)) / 2, centre, atol=0.03)


def test_signed_distance_grid_gives_vertices_on_the_level_set():
    res, r = 32, 0.55
    grid = (r - np.linalg.norm(grid_points(res), axis=1)).reshape(res, res, res)
    v, _ = extract_mesh(grid, 0.0)
    assert np.abs(np.linalg.norm(v, axis=1) - r).max() < 0.01


def test_shape_touching_the_border_is_still_closed_and_inside_the_cube():
    v, f = extract_mesh(sphere_grid(24, 1.2), 0.5)
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.volume > 0
    assert np.abs(v).max() <= 1.0


@pytest.mark.parametrize("grid", [np.zeros((8, 8, 8)), np.ones((8, 8, 8)), np.full((8, 8, 8), np.nan)])
def test_grid_without_a_surface_gives_an_empty_mesh(grid):
    v, f = extract_mesh(grid, 0.5)
    assert v.shape == (0, 3) and f.shape == (0, 3)


def test_non_cubic_grid_is_refused():
    with pytest.raises(ValueError, match="cubic"):
        extract_mesh(np.zeros((4, 4, 5)), 0.5)


@pytest.mark.parametrize("writer,suffix", [(write_obj, ".obj"), (write_ply, ".ply")])
def test_mesh_files_reread_by_trimesh_match(tmp_path, writer, suffix):
    v, f = extract_mesh(sphere_grid(20, 0.5), 0.5)
    path = tmp_path / "sub" / f"sphere{suffix}"
    writer(path, v, f)
    back = trimesh.load(path, process=False, force="mesh")
    assert len(back.vertices) == len(v) and len(back.faces) == len(f)
    assert np.allclose(back.vertices, v, atol=1e-5) and np.array_equal(back.faces, f)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # atomic: no temp file left behind


def test_empty_mesh_files_are_written(tmp_path):
    write_ply(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    write_obj(tmp_path / "e.obj", np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    assert (tmp_path / "e.ply").read_bytes().startswith(b"ply\n") and (tmp_path / "e.obj").stat().st_size > 0
