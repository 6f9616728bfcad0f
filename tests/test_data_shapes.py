"""The built-in `shapes` dataset: exact solids, deterministic, every class present, cached and recomputed."""

import json

import numpy as np
import pytest

from nfgen_tui.data import shapes
from nfgen_tui.modality import dataset_info, list_datasets
from nfgen_tui.data.shapeset import CACHE_FOLDER, load_shapes
from nfgen_tui.errors import UserError

SMALL = dict(per_class=2, n_points=512, n_surface=128)
ONE = dict(per_class=1, n_points=256, n_surface=64)


def rows(*pts):
    return np.asarray(pts, dtype=np.float64).T  # primitives take points as rows [3, K]


def test_primitives_give_exact_signed_distances():
    box = shapes.box([0.3, 0.4, 0.5])
    assert np.allclose(box(rows([0, 0, 0], [0.29, 0.39, 0.49], [0.31, 0, 0], [0.6, 0.8, 0.5])),
                       [-0.3, -0.01, 0.01, np.hypot(0.3, 0.4)])
    ball = shapes.ellipsoid([0.5, 0.5, 0.5])
    assert np.allclose(ball(rows([0, 0, 0], [0, 0.49, 0], [0.3, 0.4, 0.01])), [-0.5, -0.01, np.sqrt(0.2501) - 0.5])
    torus = shapes.torus(0.6, 0.2)
    assert np.allclose(torus(rows([0, 0, 0], [0.6, 0, 0], [0, 0.1, -0.6], [0.9, 0, 0])), [0.4, -0.2, -0.1, 0.1])
    cone = shapes.tapered(0.5, 0.5, square=False)  # base radius 0.5 at y = -0.5, apex at y = 0.5
    assert (cone(rows([0, 0.49, 0], [0.45, -0.45, 0], [0.3, 0.2, 0], [0, 0.51, 0], [0, -0.51, 0])) < 0).tolist() == [
        True, True, False, False, False]
    mug_like = shapes.subtract(shapes.cylinder(0.5, 0.5), shapes.cylinder(0.4, 0.6))
    assert (mug_like(rows([0, 0, 0], [0.45, 0, 0], [0.55, 0, 0])) < 0).tolist() == [False, True, False]


def test_surface_points_lie_on_the_exact_surface_for_every_class():
    """Marching cubes of the coarse grid lands within a grid step; the Newton steps finish the job."""
    from nfgen_tui.data.occupancy import area_sample

    rng = np.random.default_rng(0)
    for name, make in shapes.CLASSES.items():
        for _ in range(3):
            local = make(rng)
            coarse = area_sample(*shapes._local_mesh(local), 2000, rng).T.astype(np.float64)
            assert np.abs(local(coarse)).max() > 1e-3, name  # the coarse mesh alone is visibly off
            on = shapes.project_to_surface(local, coarse)
            assert np.abs(local(on)).max() < 1e-6, name


def test_shapes_are_deterministic_with_every_class_and_the_count_asked(tmp_path):
    a = load_shapes("shapes", None, **SMALL, seed=1)
    b = load_shapes("shapes", None, **SMALL, seed=1)
    c = load_shapes("shapes", None, **SMALL, seed=2)
    assert a.classes == list(shapes.CLASSES) and len(a.classes) >= 10 and a.class_counts() == [2] * len(a.classes)
    for k in ("points", "occupancy", "surface", "labels"):
        assert np.array_equal(getattr(a, k), getattr(b, k)), k
    assert not np.array_equal(a.surface, c.surface)
    assert a.points.shape == (24, 512, 3) and a.points.dtype == np.float32
    assert a.occupancy.dtype == np.uint8 and a.surface.shape == (24, 128, 3) and a.labels.dtype == np.int64
    assert a.modality == "occupancy3d" and a.name == "shapes" and a.skipped == []
    assert np.abs(a.points).max() <= 1.0
    # the contract's space: each bounding box centred, its longest side [-0.9, 0.9]; 2048 surface points come
    # within a few hundredths of a cone's apex or a box's corner
    full = load_shapes("shapes", None, per_class=1, n_points=64, n_surface=2048)
    lo, hi = full.surface.min(axis=1), full.surface.max(axis=1)
    assert np.abs(lo + hi).max() < 0.05 and lo.min() >= -0.9 - 1e-5 and hi.max() <= 0.9 + 1e-5
    assert ((hi - lo).max(axis=1) > 1.75).all()
    inside = a.occupancy.mean(axis=1)
    assert (inside > 0.05).all() and (inside < 0.8).all()  # half the points hug the surface: both labels, always
    more = load_shapes("shapes", None, per_class=3, n_points=512, n_surface=128, seed=1)
    assert np.array_equal(more.surface[more.labels == 4][:2], a.surface[a.labels == 4])  # a bigger set extends it


def test_occupancy_matches_the_analytic_solid_after_normalising():
    """An ellipsoid with equal radii is a sphere whatever its turn: radius 0.9 once normalised."""
    rng = np.random.default_rng(5)
    real_ellipsoid = shapes.CLASSES["ellipsoid"]
    try:
        shapes.CLASSES["ellipsoid"] = lambda r: shapes.ellipsoid([0.4, 0.4, 0.4])
        points, occupancy, surface = shapes.make_shape("ellipsoid", rng, 4096, 512)
    finally:
        shapes.CLASSES["ellipsoid"] = real_ellipsoid
    # the bounding box comes from surface samples, so the sphere sits within a few thousandths of radius 0.9 at 0
    surface = surface.astype(np.float64)
    centre = np.linalg.lstsq(np.c_[2 * surface, np.ones(len(surface))], (surface ** 2).sum(axis=1), rcond=None)[0][:3]
    radius = np.linalg.norm(surface - centre, axis=1)
    assert np.abs(centre).max() < 0.005 and abs(radius.mean() - 0.9) < 0.005 and np.ptp(radius) < 1e-5
    r = np.linalg.norm(points.astype(np.float64) - centre, axis=1)
    clear = np.abs(r - radius.mean()) > 1e-4
    assert clear.sum() > 4000 and np.array_equal(occupancy[clear] == 1, r[clear] < radius.mean())


def test_cache_is_reused_and_a_corrupt_cache_recomputed(tmp_path, monkeypatch):
    calls = []
    real = shapes.make_shape
    monkeypatch.setattr(shapes, "make_shape", lambda *a, **k: calls.append(1) or real(*a, **k))
    seen = []
    first = load_shapes("shapes", tmp_path, progress=lambda done, total: seen.append((done, total)), **ONE)
    assert len(calls) == 12 and seen[-1] == (12, 12) and all(float(d).is_integer() for d, _ in seen)
    again = load_shapes("shapes", tmp_path, **ONE)
    assert len(calls) == 12  # nothing recomputed
    assert np.array_equal(again.points, first.points) and np.array_equal(again.occupancy, first.occupancy)

    folder = tmp_path / CACHE_FOLDER
    (tensors,) = folder.glob("*.safetensors")
    data = bytearray(tensors.read_bytes())
    data[-5] ^= 0xFF  # one flipped bit of data: still parses as safetensors, caught by the digest
    tensors.write_bytes(bytes(data))
    fixed = load_shapes("shapes", tmp_path, **ONE)
    assert len(calls) == 24 and np.array_equal(fixed.points, first.points)
    load_shapes("shapes", tmp_path, **ONE)
    assert len(calls) == 24  # the rewritten entry is whole again

    tensors.write_bytes(b"\x80\x04not safetensors, perhaps a pickle")
    load_shapes("shapes", tmp_path, **ONE)
    assert len(calls) == 36
    (record,) = folder.glob("*.json")
    record.write_text("{ truncated")
    load_shapes("shapes", tmp_path, **ONE)
    assert len(calls) == 48
    assert json.loads(record.read_text())["meta"]["params"]["per_class"] == 1
    load_shapes("shapes", tmp_path, per_class=2, n_points=512, n_surface=128)  # other settings: another entry
    assert len(calls) == 48 + 24 and len(list(folder.glob("*.json"))) == 2


def test_subset_keeps_arrays_together():
    s = load_shapes("shapes", None, **SMALL)
    sub = s.subset([3, 0, 23])
    assert sub.labels.tolist() == [1, 0, 11] and sub.classes == s.classes and len(sub) == 3
    assert np.array_equal(sub.points[0], s.points[3]) and np.array_equal(sub.surface[2], s.surface[23])
    assert np.array_equal(sub.occupancy[1], s.occupancy[0])


def test_bad_settings_and_names_are_user_errors():
    with pytest.raises(UserError, match="at least 1 shape per class"):
        load_shapes("shapes", None, per_class=0)
    with pytest.raises(UserError, match="shapes or meshes:PATH"):
        load_shapes("cubes", None)


def test_listing_names_shapes_as_3d_without_generating(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "make_shape", lambda *a, **k: pytest.fail("a listing must not generate shapes"))
    info = {i.name: i for i in list_datasets(tmp_path)}["shapes"]
    assert info.available and info.kind == "3D" and info.size == 200 * len(shapes.CLASSES)
    assert info.class_counts == [200] * len(shapes.CLASSES) and info.classes == list(shapes.CLASSES)
    assert info.to_dict()["kind"] == "3D" and dataset_info("mnist-5k", tmp_path).to_dict()["kind"] == "2D"
