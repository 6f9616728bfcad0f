"""How quickly the 3D datasets are made: `shapes` per shape and for the whole default set, the cache's size, and
nfgen's ray-crossing inside test against trimesh's `contains` on one mesh.

CPU time (process time, one thread) is reported beside wall time: the machine may be shared. The whole set's time is
extrapolated from `--per-class` shapes of every class unless `--full` makes all of them (and writes the cache).
Usage: .venv/bin/python benchmarks/shapes_data.py [--per-class 10] [--full] [--faces 5120] [--points 4096]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nfgen_tui.data import shapes
from nfgen_tui.data.inside import inside_mesh
from nfgen_tui.data.shapeset import CACHE_FOLDER, load_shapes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=10, help="shapes of each class timed")
    ap.add_argument("--full", action="store_true", help="make the whole default set through load_shapes (cached)")
    ap.add_argument("--faces", type=int, default=5120, help="icosphere faces for the inside test (20·4^k)")
    ap.add_argument("--points", type=int, default=4096)
    args = ap.parse_args()

    total = shapes.PER_CLASS * len(shapes.CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        cpu, wall = time.process_time(), time.perf_counter()
        n = total if args.full else args.per_class * len(shapes.CLASSES)
        if args.full:
            load_shapes("shapes", Path(tmp))
        else:
            for c, name in enumerate(shapes.CLASSES):
                for i in range(args.per_class):
                    shapes.make_shape(name, np.random.default_rng([0, c, i]))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        size = sum(f.stat().st_size for f in (Path(tmp) / CACHE_FOLDER).glob("*")) if args.full else None
    print(f"shapes: {n} made in {cpu:.1f} s CPU ({wall:.1f} s wall), {1000 * cpu / n:.1f} ms CPU per shape; "
          f"the default {total}: {'' if args.full else '~'}{cpu / n * total:.0f} s CPU"
          + (f"; cache {size / 2**20:.0f} MiB" if size is not None else ""))

    import trimesh

    level = max(0, int(round(np.log(max(args.faces, 20) / 20) / np.log(4))))
    mesh = trimesh.creation.icosphere(subdivisions=level)
    p = np.random.default_rng(0).uniform(-1, 1, size=(args.points, 3))
    t = time.process_time()
    ours = inside_mesh(mesh.vertices, mesh.faces, p)
    t_ours = time.process_time() - t
    t = time.process_time()
    theirs = mesh.contains(p)
    t_theirs = time.process_time() - t
    print(f"inside test, {len(mesh.faces)} faces × {args.points} points: nfgen {t_ours:.3f} s, trimesh.contains "
          f"{t_theirs:.3f} s CPU (speed-up {t_theirs / max(t_ours, 1e-9):.0f}×), disagreements {(ours != theirs).sum()}")


if __name__ == "__main__":
    main()
