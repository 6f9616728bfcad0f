"""`shapes`: a built-in, offline set of class-labelled solids, generated deterministically from a seed.

Each class is a parametric solid given by a signed distance function (negative inside), so occupancy is exact
(the sign at the point). Every shape gets random proportions, a random turn about the vertical axis and a small
tilt. Its surface is found once by marching cubes of the SDF on a coarse grid, sampled area-weighted, and the
samples are then pulled onto the exact zero level set by a few Newton steps along the SDF's gradient, so surface
points are exact up to float error while the whole set stays quick to make.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .occupancy import N_POINTS, N_SURFACE, area_sample, normalize_mesh, query_points

SDF = Callable[[np.ndarray], np.ndarray]  # points as rows [3, K] → signed distance [K], negative inside
PER_CLASS = 200
GRID = 32  # marching-cubes resolution on [-1, 1]^3 in the solid's own (unturned) frame; every part is thicker than
# one grid step (0.065), and the Newton steps below put the samples on the exact surface
MAX_TILT = np.deg2rad(25.0)
VERSION = 1  # bump when the generator changes, so cached sets are made again


# --- primitives: points come as rows [3, K] (x, y, z; y is up), each solid centred unless moved with `shift` ---

def _len3(x, y, z):
    return np.sqrt(x * x + y * y + z * z)


def box(half) -> SDF:
    bx, by, bz = (float(v) for v in half)

    def f(p):
        qx, qy, qz = np.abs(p[0]) - bx, np.abs(p[1]) - by, np.abs(p[2]) - bz
        outside = _len3(np.maximum(qx, 0.0), np.maximum(qy, 0.0), np.maximum(qz, 0.0))
        return outside + np.minimum(np.maximum(qx, np.maximum(qy, qz)), 0.0)
    return f


def ellipsoid(radii) -> SDF:
    rx, ry, rz = (float(v) for v in radii)
    smallest = min(rx, ry, rz)

    def f(p):  # a bound with the exact sign: |p/r| - 1 scaled by the smallest radius
        return (_len3(p[0] / rx, p[1] / ry, p[2] / rz) - 1.0) * smallest
    return f


def _capped(dr, dy):
    """Signed distance from the radial and vertical overshoots of a capped solid of revolution."""
    return np.hypot(np.maximum(dr, 0.0), np.maximum(dy, 0.0)) + np.minimum(np.maximum(dr, dy), 0.0)


def cylinder(radius: float, half_height: float) -> SDF:
    return lambda p: _capped(np.hypot(p[0], p[2]) - radius, np.abs(p[1]) - half_height)


def capsule(radius: float, half_length: float) -> SDF:
    return lambda p: _len3(p[0], p[1] - np.clip(p[1], -half_length, half_length), p[2]) - radius


def torus(major: float, minor: float) -> SDF:
    return lambda p: np.hypot(np.hypot(p[0], p[2]) - major, p[1]) - minor


def tapered(base_half: float, half_height: float, square: bool) -> SDF:
    """A cone (round base) or a pyramid (square base) from y = -h up to an apex at y = +h."""
    slope = base_half / (2.0 * half_height)
    cos = 1.0 / np.sqrt(1.0 + slope * slope)

    def f(p):
        radial = np.maximum(np.abs(p[0]), np.abs(p[2])) if square else np.hypot(p[0], p[2])
        side = (radial - slope * (half_height - p[1])) * cos
        return np.maximum(np.maximum(side, -half_height - p[1]), p[1] - half_height)
    return f


def shift(f: SDF, offset) -> SDF:
    o = np.asarray(offset, dtype=np.float64)[:, None]
    return lambda p: f(p - o)


def rotate_x(f: SDF) -> SDF:
    """The solid turned a quarter about x (its y axis lies along z)."""
    return lambda p: f(np.stack([p[0], p[2], -p[1]]))


def union(*fs: SDF) -> SDF:
    def f(p):
        out = fs[0](p)
        for g in fs[1:]:
            out = np.minimum(out, g(p))
        return out
    return f


def subtract(f: SDF, g: SDF) -> SDF:
    return lambda p: np.maximum(f(p), -g(p))


def intersect(f: SDF, g: SDF) -> SDF:
    return lambda p: np.maximum(f(p), g(p))


# --- classes: each draws its proportions from rng and returns the solid, roughly of unit size -------------------

def _ellipsoid(r):
    return ellipsoid(r.uniform(0.35, 0.9, size=3))


def _box(r):
    return box(r.uniform(0.25, 0.85, size=3))


def _cylinder(r):
    return cylinder(r.uniform(0.25, 0.6), r.uniform(0.3, 0.8))


def _cone(r):
    return tapered(r.uniform(0.35, 0.7), r.uniform(0.35, 0.8), square=False)


def _pyramid(r):
    return tapered(r.uniform(0.35, 0.7), r.uniform(0.3, 0.7), square=True)


def _torus(r):
    major = r.uniform(0.4, 0.65)
    return torus(major, major * r.uniform(0.2, 0.45))


def _capsule(r):
    return capsule(r.uniform(0.18, 0.35), r.uniform(0.3, 0.6))


def _lshape(r):
    t = r.uniform(0.15, 0.3)  # bar half-thickness
    a, b, d = r.uniform(0.5, 0.8), r.uniform(0.35, 0.7), r.uniform(0.15, 0.45)
    foot = shift(box([a, t, d]), [0.0, -b + t, 0.0])
    upright = shift(box([t, b, d]), [-a + t, 0.0, 0.0])
    return union(foot, upright)


def _cross(r):
    t = r.uniform(0.12, 0.22)
    lengths = r.uniform(0.5, 0.85, size=3)
    return union(box([lengths[0], t, t]), box([t, lengths[1], t]), box([t, t, lengths[2]]))


def _table(r):
    w, d = r.uniform(0.55, 0.85), r.uniform(0.35, 0.75)
    top_t, leg_h, leg = r.uniform(0.05, 0.1), r.uniform(0.3, 0.55), r.uniform(0.05, 0.09)
    parts = [shift(box([w, top_t, d]), [0.0, leg_h + top_t, 0.0])]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(shift(box([leg, leg_h, leg]), [sx * (w - leg), 0.0, sz * (d - leg)]))
    return union(*parts)


def _chair(r):
    w = r.uniform(0.35, 0.55)
    seat_t, leg_h, leg = r.uniform(0.05, 0.09), r.uniform(0.3, 0.5), r.uniform(0.05, 0.07)
    back_h = r.uniform(0.35, 0.65)
    parts = [box([w, seat_t, w]), shift(box([w, back_h / 2, seat_t]), [0.0, seat_t + back_h / 2, -w + seat_t])]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(shift(box([leg, leg_h / 2, leg]), [sx * (w - leg), -seat_t - leg_h / 2, sz * (w - leg)]))
    return union(*parts)


def _mug(r):
    radius, half_h = r.uniform(0.3, 0.45), r.uniform(0.35, 0.6)
    wall = r.uniform(0.08, 0.12)
    body = subtract(cylinder(radius, half_h), shift(cylinder(radius - wall, half_h), [0.0, 2 * wall, 0.0]))
    handle_r = r.uniform(0.18, 0.3) * half_h / 0.5
    ring = shift(rotate_x(torus(handle_r, r.uniform(0.05, 0.08))), [radius, 0.0, 0.0])
    handle = intersect(ring, lambda p: radius - wall / 2 - p[0])  # only the part outside the wall
    return union(body, handle)


CLASSES: dict[str, Callable[[np.random.Generator], SDF]] = {
    "ellipsoid": _ellipsoid, "box": _box, "cylinder": _cylinder, "cone": _cone, "pyramid": _pyramid,
    "torus": _torus, "capsule": _capsule, "l-shape": _lshape, "cross": _cross, "table": _table, "chair": _chair,
    "mug": _mug,
}


# --- one shape: pose, normalise, sample ---------------------------------------------------------------------------

def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Any turn about the vertical axis, then a tilt of up to MAX_TILT about a random horizontal axis."""
    yaw = rng.uniform(0.0, 2.0 * np.pi)
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    axis_angle = rng.uniform(0.0, 2.0 * np.pi)
    k = np.array([np.cos(axis_angle), 0.0, np.sin(axis_angle)])
    tilt = rng.uniform(0.0, MAX_TILT)
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    tilt_m = np.eye(3) + np.sin(tilt) * kx + (1.0 - np.cos(tilt)) * (kx @ kx)  # Rodrigues
    return tilt_m @ turn


def posed(local: SDF, rotation: np.ndarray) -> SDF:
    """The solid turned by `rotation` (a point u of the turned solid is rotation @ x of the local one)."""
    return lambda u: local(rotation.T @ u)


def _local_mesh(f: SDF) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the unturned solid, whose parts all lie inside [-1, 1]^3 by construction."""
    from skimage.measure import marching_cubes

    axis = np.linspace(-1.0, 1.0, GRID, dtype=np.float32)
    values = f(np.stack(np.meshgrid(axis, axis, axis, indexing="ij")).reshape(3, -1)).reshape(GRID, GRID, GRID)
    faces_of_grid = (values[0], values[-1], values[:, 0], values[:, -1], values[:, :, 0], values[:, :, -1])
    if values.min() >= 0 or min(v.min() for v in faces_of_grid) <= 0:
        raise ValueError("solid is empty or leaves [-1, 1]^3")  # a bug in a class's proportions, never user data
    h = float(axis[1] - axis[0])
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(h, h, h))
    return verts - 1.0, faces


def project_to_surface(f: SDF, p: np.ndarray, steps: int = 2, eps: float = 1e-5) -> np.ndarray:
    """Newton steps p ← p − f(p)·∇f/|∇f|² (central differences) onto the zero level set of `f` (p is [3, K])."""
    p = p.astype(np.float64)
    for _ in range(steps):
        d = f(p)
        grad = np.empty_like(p)
        for axis in range(3):
            step = np.zeros((3, 1))
            step[axis] = eps
            grad[axis] = (f(p + step) - f(p - step)) / (2 * eps)
        p = p - grad * (d / np.maximum((grad * grad).sum(axis=0), 1e-12))
    return p


def make_shape(class_name: str, rng: np.random.Generator, n_points: int = N_POINTS,
               n_surface: int = N_SURFACE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points [M,3] float32, occupancy [M] uint8, surface [S,3] float32) of one random solid of the class, in the
    contract's space: bounding box centred, longest side on [-0.9, 0.9]."""
    local = CLASSES[class_name](rng)
    rotation = random_rotation(rng)
    f = posed(local, rotation)
    verts, faces = _local_mesh(local)
    near = area_sample(verts, faces, n_surface + n_points // 2, rng)
    surface_u = project_to_surface(f, rotation @ near.T.astype(np.float64)).T
    # the bounding box of exact surface points; the mesh's vertices reach the extremes (an apex) that an area
    # sample may miss
    turned = verts @ rotation.T
    extremes = np.unique(np.argsort(turned, axis=0)[np.r_[0:4, -4:0]].ravel())  # 4 vertices at each side of each axis
    centre, scale = normalize_mesh(np.concatenate([surface_u, project_to_surface(f, turned[extremes].T).T]))
    surface = ((surface_u - centre) * scale).astype(np.float32)
    points = query_points(surface[n_surface:], n_points, rng)
    inside = f(points.T.astype(np.float64) / scale + centre[:, None]) < 0.0
    return points, inside.astype(np.uint8), surface[:n_surface]


def generate(per_class: int = PER_CLASS, seed: int = 0, n_points: int = N_POINTS, n_surface: int = N_SURFACE,
             progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The whole set, class by class: (points, occupancy, surface, labels, classes). Shape i of class c depends
    only on (seed, c, i), so a larger per_class keeps the smaller set as its prefix within each class."""
    classes = list(CLASSES)
    total = per_class * len(classes)
    points = np.empty((total, n_points, 3), np.float32)
    occupancy = np.empty((total, n_points), np.uint8)
    surface = np.empty((total, n_surface, 3), np.float32)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    for c, name in enumerate(classes):
        for i in range(per_class):
            k = c * per_class + i
            rng = np.random.default_rng([seed, c, i])
            points[k], occupancy[k], surface[k] = make_shape(name, rng, n_points, n_surface)
            if progress is not None:
                progress(k + 1, total)
    return points, occupancy, surface, labels, classes
