"""Which points lie inside a closed mesh, by counting ray crossings — fast enough for ShapeNet-sized meshes.

trimesh's own `contains` (rtree ray tests without embree) takes seconds per thousand points on a mesh of a few
thousand faces, too slow to sample thousands of meshes. Here each point casts a ray along +x, +y and +z; the
triangles a ray can cross are found through a 2D grid of the triangles' shadows on the plane across the ray, and
an odd number of crossings beyond the point means inside. A ray that grazes an edge or a vertex can miscount, so
the three rays vote.
"""

from __future__ import annotations

import numpy as np

ACROSS = ((1, 2), (2, 0), (0, 1))  # for a ray along axis k, the two axes of the plane across it


def inside_mesh(verts: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Boolean [P]: is each point inside the closed (watertight) mesh? Orientation of the faces does not matter."""
    tri = np.asarray(verts, dtype=np.float64)[np.asarray(faces)]
    p = np.asarray(points, dtype=np.float64)
    votes = sum(_odd_crossings(tri, p, axis).astype(np.int8) for axis in range(3))
    return votes >= 2


def _odd_crossings(tri: np.ndarray, p: np.ndarray, axis: int) -> np.ndarray:
    u, v = ACROSS[axis]
    tu, tv = tri[:, :, u], tri[:, :, v]
    lo = np.minimum(tri.min(axis=(0, 1)), p.min(axis=0))[[u, v]]
    hi = np.maximum(tri.max(axis=(0, 1)), p.max(axis=0))[[u, v]]
    g = int(np.clip(np.sqrt(len(tri)), 4, 512))  # about one triangle per cell
    size = np.maximum((hi - lo) / g, 1e-12)

    def cell(x, k):
        return np.clip(((x - lo[k]) / size[k]).astype(np.int64), 0, g - 1)

    # every (cell, triangle) pair whose shadow's bounding box covers the cell, sorted by cell
    u0, u1 = cell(tu.min(axis=1), 0), cell(tu.max(axis=1), 0)
    v0, v1 = cell(tv.min(axis=1), 1), cell(tv.max(axis=1), 1)
    width = v1 - v0 + 1
    n = (u1 - u0 + 1) * width
    owner = np.repeat(np.arange(len(tri)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    cells = (u0[owner] + k // width[owner]) * g + v0[owner] + k % width[owner]
    order = np.argsort(cells, kind="stable")
    cells, owner = cells[order], owner[order]
    start = np.searchsorted(cells, np.arange(g * g))
    count = np.searchsorted(cells, np.arange(g * g), side="right") - start

    # every (point, candidate triangle) pair through the point's cell
    pc = cell(p[:, u], 0) * g + cell(p[:, v], 1)
    m = count[pc]
    which = np.repeat(np.arange(len(p)), m)
    j = np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m)
    cand = owner[start[pc][which] + j]

    a, b, c = tri[cand, 0], tri[cand, 1], tri[cand, 2]
    q = p[which]

    def edge(s, t):  # twice the signed area of (s, t, q) in the plane across the ray
        return (t[:, u] - s[:, u]) * (q[:, v] - s[:, v]) - (t[:, v] - s[:, v]) * (q[:, u] - s[:, u])

    ea, eb, ec = edge(b, c), edge(c, a), edge(a, b)  # ea is the weight of a, and so on
    area = ea + eb + ec
    within = (((ea >= 0) & (eb >= 0) & (ec >= 0)) | ((ea <= 0) & (eb <= 0) & (ec <= 0))) & (area != 0)
    safe = np.where(area == 0, 1.0, area)
    depth = (ea * a[:, axis] + eb * b[:, axis] + ec * c[:, axis]) / safe  # where the ray meets the plane
    hit = within & (depth > q[:, axis])
    return np.bincount(which[hit], minlength=len(p)) % 2 == 1
