"""The software renderer draws what is there: discs of the right size, lit from the light's side, the nearer
surface in front, the right way up, and nothing for an empty mesh."""

from __future__ import annotations

import numpy as np
import trimesh

from nfgen_tui.geometry.shade import AMBIENT, HALF_WIDTH, render_views, view_grid

SIZE = 64


def sphere(radius: float, centre=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    m.apply_translation(centre)
    return m


def square(z: float, half: float, tilt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A square facing the camera at depth z, turned by `tilt` radians about the x axis (changes its shade)."""
    c, s = np.cos(tilt), np.sin(tilt)
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    v = np.stack([corners[:, 0], corners[:, 1] * c, z + corners[:, 1] * s], axis=1)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def radii(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    return np.hypot(xx - centre, yy - centre)


def test_sphere_renders_a_filled_disc_of_the_right_radius():
    r = 0.6
    views = render_views(sphere(r).vertices, sphere(r).faces, size=SIZE)
    assert views.shape == (4, SIZE, SIZE) and views.dtype == np.uint8
    disc = r / HALF_WIDTH * SIZE / 2  # orthographic: world radius -> pixels
    dist = radii(SIZE)
    for img in views:
        assert (img[dist < disc - 1.5] >= int(AMBIENT * 255) - 1).all()  # filled, no holes
        assert (img[dist > disc + 1.5] == 0).all()  # nothing outside
        covered = (img > 0).sum()
        assert abs(covered - np.pi * disc ** 2) < 2 * np.pi * disc * 1.5  # within a rim of anti-aliasing


def test_lit_side_faces_the_light_upper_left():
    img = render_views(sphere(0.7).vertices, sphere(0.7).faces, size=SIZE, azimuths=(0,), elevation=0)[0]
    inside = radii(SIZE) < 0.7 / HALF_WIDTH * SIZE / 2 - 2
    yy, xx = np.mgrid[:SIZE, :SIZE]
    upper_left = inside & (xx < SIZE / 2) & (yy < SIZE / 2)
    lower_right = inside & (xx >= SIZE / 2) & (yy >= SIZE / 2)
    assert img[upper_left].mean() > img[lower_right].mean() + 60
    assert img.max() > 240 and img[inside].min() >= int(AMBIENT * 255) - 1


def test_image_is_the_right_way_up_and_round():
    """At azimuth 0, elevation 0: +x is to the right, +y is up; turning by 90 degrees brings +x to the front."""
    right = render_views(sphere(0.2, (0.6, 0, 0)).vertices, sphere(0.2, (0.6, 0, 0)).faces, size=SIZE,
                         azimuths=(0, 90), elevation=0)
    ys, xs = np.nonzero(right[0])
    assert xs.mean() > SIZE * 0.7 and abs(ys.mean() - (SIZE - 1) / 2) < 1
    ys, xs = np.nonzero(right[1])
    assert abs(xs.mean() - (SIZE - 1) / 2) < 1  # seen end-on from the side
    up = render_views(sphere(0.2, (0, 0.6, 0)).vertices, sphere(0.2, (0, 0.6, 0)).faces, size=SIZE,
                      azimuths=(0,), elevation=0)[0]
    ys, _ = np.nonzero(up)
    assert ys.mean() < SIZE * 0.3


def test_nearer_surface_hides_the_farther_whatever_the_face_order():
    near_v, near_f = square(0.5, 0.3, tilt=0.9)
    far_v, far_f = square(-0.5, 0.8)
    kw = dict(size=SIZE, azimuths=(0,), elevation=0)
    near_only, far_only = render_views(near_v, near_f, **kw)[0], render_views(far_v, far_f, **kw)[0]
    c = SIZE // 2
    assert abs(int(near_only[c, c]) - int(far_only[c, c])) > 20  # the two are told apart by their shade
    both = np.concatenate([near_v, far_v]), np.concatenate([near_f, far_f + 4])
    swapped = np.concatenate([far_v, near_v]), np.concatenate([far_f, near_f + 4])
    for v, f in (both, swapped):
        img = render_views(v, f, **kw)[0]
        assert img[c, c] == near_only[c, c]
        assert img[14, 14] == far_only[14, 14] > 0  # the far square still shows around the near one


def test_rendering_in_small_face_batches_gives_the_same_image(monkeypatch):
    import nfgen_tui.geometry.shade as shade

    m = sphere(0.5)
    whole = render_views(m.vertices, m.faces, size=32)
    monkeypatch.setattr(shade, "MAX_CANDIDATES", 50)  # a few faces per batch: hundreds of batches
    assert np.array_equal(render_views(m.vertices, m.faces, size=32), whole)


def test_faces_with_nan_vertices_are_dropped():
    m = sphere(0.5)
    v = np.concatenate([m.vertices, [[np.nan, 0, 0]]])
    f = np.concatenate([m.faces, [[0, 1, len(v) - 1]]])
    assert np.array_equal(render_views(v, f, size=32), render_views(m.vertices, m.faces, size=32))


def test_empty_mesh_renders_background():
    views = render_views(np.zeros((0, 3)), np.zeros((0, 3), np.int64), size=16, azimuths=(0, 90, 180),
                         background=255)
    assert views.shape == (3, 16, 16) and (views == 255).all()


def test_view_grid_tiles_shapes_by_views():
    a = np.full((2, 5, 5), 10, np.uint8)
    b = np.full((2, 5, 5), 20, np.uint8)
    c = np.full((2, 5, 5), 30, np.uint8)
    grid = view_grid([a, b, c], shapes_per_row=2, pad=1, background=0)
    assert grid.shape == (2 * 6 + 1, 4 * 6 + 1)
    assert grid[1, 1] == 10 and grid[1, 7] == 10 and grid[1, 13] == 20 and grid[7, 1] == 30 and grid[7, 13] == 0
    assert grid[0].max() == 0 and grid[:, 6].max() == 0  # padding stays background
