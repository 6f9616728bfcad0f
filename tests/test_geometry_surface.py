"""Area-weighted surface sampling and HyperDiffusion's per-cloud normalisation, with real numbers on small meshes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from nfgen_tui.geometry.mesh import extract_mesh, grid_points
from nfgen_tui.geometry.surface import normalize_points, sample_surface, triangle_areas


def two_triangles(big: float) -> tuple[np.ndarray, np.ndarray]:
    """A unit right triangle at z = 0 and one `big` times its side length at z = 1."""
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [big, 0, 1], [0, big, 1]], np.float32)
    return v, np.array([[0, 1, 2], [3, 4, 5]], np.int64)


def test_points_lie_on_the_mesh_and_follow_area():
    v, f = two_triangles(3.0)  # areas 0.5 and 4.5: 10 % of the points on the first
    p = sample_surface(v, f, 20000, seed=0)
    assert p.shape == (20000, 3) and p.dtype == np.float32
    on_first = p[:, 2] == 0
    assert np.all(on_first | (p[:, 2] == 1))
    assert abs(on_first.mean() - 0.1) < 0.01
    first = p[on_first]
    assert np.all(first[:, :2] >= 0) and np.all(first[:, 0] + first[:, 1] <= 1 + 1e-6)
    # uniform inside the triangle: its centroid is the mean of the points
    assert np.allclose(first[:, :2].mean(0), [1 / 3, 1 / 3], atol=0.02)


def test_sampling_is_seeded():
    v, f = two_triangles(2.0)
    assert np.array_equal(sample_surface(v, f, 100, seed=3), sample_surface(v, f, 100, seed=3))
    assert not np.array_equal(sample_surface(v, f, 100, seed=3), sample_surface(v, f, 100, seed=4))


def test_points_on_an_extracted_sphere_are_at_its_radius():
    res, r = 32, 0.7
    v, f = extract_mesh((r - np.linalg.norm(grid_points(res), axis=1)).reshape(res, res, res), 0.0)
    p = sample_surface(v, f, 4000, seed=1)
    assert np.abs(np.linalg.norm(p, axis=1) - r).max() < 0.02
    assert np.abs(p.mean(0)).max() < 0.03  # evenly spread over the sphere
    assert triangle_areas(v, f).sum() == pytest.approx(trimesh.Trimesh(v, f, process=False).area, rel=1e-6)
    assert triangle_areas(v, f).sum() == pytest.approx(4 * np.pi * r ** 2, rel=0.02)


def test_mesh_without_faces_gives_origin_copies():
    p = sample_surface(np.zeros((0, 3)), np.zeros((0, 3), np.int64), 7, seed=0)
    assert p.shape == (7, 3) and not p.any()


def test_normalize_points_centres_and_scales_each_cloud():
    rng = np.random.default_rng(0)
    clouds = rng.normal(size=(3, 500, 3)) * np.array([1, 2, 3])[:, None, None] + np.array([5, -1, 0])[:, None, None]
    out = normalize_points(clouds.astype(np.float32))
    assert isinstance(out, np.ndarray) and out.shape == clouds.shape
    assert np.allclose(out.mean(axis=1), 0, atol=1e-5)
    # HyperDiffusion's scale: the std of the cloud's raw flattened coordinates (before centring), ddof 1
    for c, o in zip(clouds, out):
        assert np.allclose(o, (c - c.mean(0)) / c.ravel().std(ddof=1), atol=1e-5)
    # moving and uniformly resizing a cloud does not change it
    assert np.allclose(normalize_points(clouds[:1] * 7 + 2), out[:1], atol=1e-5)
    # one scalar per cloud: the shape's aspect ratio is kept
    ratio = clouds[0].std(0) / clouds[0].std(0)[0]
    assert np.allclose(out[0].std(0) / out[0].std(0)[0], ratio, rtol=1e-4)


def test_normalize_points_keeps_tensors_and_only_centres_flat_clouds():
    t = torch.full((2, 10, 3), 4.0)
    out = normalize_points(t)
    assert isinstance(out, torch.Tensor) and torch.equal(out, torch.zeros(2, 10, 3))
