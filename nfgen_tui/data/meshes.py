"""`meshes:PATH`: your own meshes, one sub-folder per class, turned into occupancy samples.

Any depth below a class folder is searched, so ShapeNet (`<synset>/<model>/models/model_normalized.obj`), ModelNet
(`<class>/train|test/<name>.off`) and plain `<class>/<name>.obj` layouts all work. Each mesh is read with trimesh,
normalised (bounding box centred, longest side on [-0.9, 0.9]), sampled on its surface (area-weighted) and tested
for inside by counting ray crossings (`inside.py`). A mesh that cannot be read, has no faces or has no inside (not
watertight) is skipped and listed with the reason; files that belong to a model (materials, textures, voxels) are
ignored quietly.
Samples are cached per mesh under a digest of its bytes, so adding meshes only computes the new ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..progress import ProgressFn
from . import sample_cache
from .info import skipped_text
from .inside import inside_mesh
from .occupancy import N_POINTS, N_SURFACE, area_sample, normalize_mesh, query_points, valid_samples

MESH_SUFFIXES = (".obj", ".off", ".stl", ".ply")
COMPANION_SUFFIXES = {".mtl", ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".json", ".binvox", ".npz"}
VERSION = 1  # bump when sampling changes, so cached meshes are sampled again
NOT_WATERTIGHT = "not watertight, so it has no inside (close it first, e.g. with ManifoldPlus)"


class Unusable(Exception):
    """A mesh that cannot give occupancy samples; the message says why."""


def class_folders(path: Path) -> list[Path]:
    if not path.is_dir():
        raise UserError(f"meshes dataset {str(path)!r} is not a readable directory; pass meshes:PATH with one "
                        f"sub-folder of meshes per class")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"meshes dataset {str(path)!r} has no class sub-folders; put each class's meshes "
                        f"({' '.join(MESH_SUFFIXES)}) in a sub-folder named after the class")
    return folders


def candidates(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """(mesh files, stray files with why) anywhere below a class folder, in a stable order."""
    meshes, stray = [], []
    for f in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in f.relative_to(folder).parts) or f.is_dir():
            continue
        suffix = f.suffix.lower()
        if suffix in MESH_SUFFIXES:
            meshes.append(f)
        elif suffix not in COMPANION_SUFFIXES:
            stray.append((str(f), f"not a mesh file ({' '.join(MESH_SUFFIXES)})"))
    return meshes, stray


def _key(f: Path, n_points: int, n_surface: int) -> tuple[str, str]:
    content = sample_cache.file_digest(f)
    return sample_cache.digest({"dataset": "mesh", "version": VERSION, "sha256": content, "n_points": n_points,
                                "n_surface": n_surface}), content


def mesh_samples(f: Path, n_points: int, n_surface: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points [M,3] float32, occupancy [M] uint8, surface [S,3] float32) of one mesh file, or Unusable."""
    import trimesh

    log = logging.getLogger("trimesh")
    level = log.level
    log.setLevel(logging.CRITICAL)  # trimesh logs parse trouble itself; the reason is reported once, below
    try:
        mesh = trimesh.load(str(f), force="mesh")
    except Exception as e:  # trimesh raises many types on bad input; any of them means this file is unreadable
        raise Unusable(f"unreadable: {(str(e).splitlines() or [type(e).__name__])[0][:80]}") from None
    finally:
        log.setLevel(level)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise Unusable("no faces")
    if not mesh.is_watertight:
        raise Unusable(NOT_WATERTIGHT)
    centre, scale = normalize_mesh(np.asarray(mesh.vertices))
    mesh = trimesh.Trimesh((np.asarray(mesh.vertices) - centre) * scale, mesh.faces, process=False)
    rng = np.random.default_rng(seed)
    near = area_sample(np.asarray(mesh.vertices), np.asarray(mesh.faces), n_surface + n_points // 2, rng)
    points = query_points(near[n_surface:], n_points, rng)
    occupancy = inside_mesh(mesh.vertices, mesh.faces, points).astype(np.uint8)
    if not occupancy.any():
        raise Unusable("no inside (zero volume)")
    return points, occupancy, near[:n_surface]


def load_meshes(path: Path, cache: Path | None, progress: ProgressFn, n_points: int, n_surface: int):
    """(points, occupancy, surface, labels, classes, skipped) of every usable mesh below `path`."""
    folders = class_folders(path)
    found = [candidates(d) for d in folders]
    total = sum(len(m) for m, _ in found)
    points, occupancy, surface, labels, skipped = [], [], [], [], []
    done = 0
    for label, (folder, (files, stray)) in enumerate(zip(folders, found)):
        usable, before = 0, len(skipped)
        skipped.extend(stray)
        for f in files:
            try:
                key, content = _key(f, n_points, n_surface)
            except OSError as e:  # unreadable file (permissions, vanished)
                arrays, why = None, f"unreadable: {e.strerror or e}"
            else:
                arrays, why = _cached_or_computed(f, cache, key, int(content[:16], 16), n_points, n_surface)
            if arrays is None:
                skipped.append((str(f), why))
            else:
                points.append(arrays["points"])
                occupancy.append(arrays["occupancy"])
                surface.append(arrays["surface"])
                labels.append(label)
                usable += 1
            done += 1
            progress(done, total)
        if not usable and total:
            left_out = skipped_text(skipped[before:], 3)
            raise UserError(f"class folder {str(folder)!r} holds no usable mesh{'; ' + left_out if left_out else ''}. "
                            f"Add watertight meshes ({' '.join(MESH_SUFFIXES)}) to it, or move it out of "
                            f"{str(path)!r}")
    if not points:
        raise UserError(f"meshes dataset {str(path)!r} holds no mesh file ({' '.join(MESH_SUFFIXES)}) in its class "
                        f"sub-folders{'; ' + skipped_text(skipped, 3) if skipped else ''}")
    return (np.stack(points), np.stack(occupancy), np.stack(surface), np.asarray(labels, dtype=np.int64),
            [d.name for d in folders], skipped)


def _cached_or_computed(f: Path, cache: Path | None, key: str, seed: int, n_points: int, n_surface: int):
    """(arrays, '') of a usable mesh or (None, why); a cached answer (arrays or the reason) is reused whole."""
    hit = sample_cache.read(cache, key)
    if hit is not None:
        arrays, meta = hit
        if meta.get("skipped"):
            return None, str(meta["skipped"])
        batched = {k: v[None] for k, v in arrays.items()}
        if valid_samples(batched, 1, n_points, n_surface):
            return arrays, ""
    try:
        p, o, s = mesh_samples(f, n_points, n_surface, seed)
    except Unusable as e:
        sample_cache.write(cache, key, {}, {"file": str(f), "skipped": str(e)})
        return None, str(e)
    arrays = {"points": p, "occupancy": o, "surface": s}
    sample_cache.write(cache, key, arrays, {"file": str(f)})
    return arrays, ""


def survey(path: Path, cache: Path | None) -> tuple[list[str], list[int], list[tuple[str, str]], int]:
    """(classes, usable-or-unknown meshes per class, skipped, meshes not sampled yet) without sampling anything:
    a mesh counts as skipped only once a load (with the default sizes) has found it unusable."""
    counts, skipped, pending = [], [], 0
    folders = class_folders(path)
    for folder in folders:
        files, stray = candidates(folder)
        skipped.extend(stray)
        n = 0
        for f in files:
            try:
                meta = sample_cache.peek(cache, _key(f, N_POINTS, N_SURFACE)[0])
            except OSError as e:
                meta = {"skipped": f"unreadable: {e.strerror or e}"}
            if meta is None:
                pending += 1
                n += 1
            elif meta.get("skipped"):
                skipped.append((str(f), str(meta["skipped"])))
            else:
                n += 1
        counts.append(n)
    return [d.name for d in folders], counts, skipped, pending
