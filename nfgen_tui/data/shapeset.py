"""3D datasets as occupancy samples: the built-in `shapes` and your own `meshes:PATH`.

Every shape lives in one space: its bounding box centred, its longest side spanning [-0.9, 0.9], so a field sampled
on the cube [-1, 1]^3 closes every surface. Each shape carries M occupancy sample points (half uniform in the cube,
half near the surface; occupancy 1 = inside) and S points on its true surface for metrics and previews. Computing
them takes a while (a mesh's inside test, a procedural set of thousands), so the result is cached in the dataset
folder under a digest of everything it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..progress import ProgressFn, null_progress
from . import sample_cache, shapes
from .info import DatasetInfo
from .meshes import class_folders, load_meshes, survey
from .occupancy import N_POINTS, N_SURFACE, valid_samples

CACHE_FOLDER = "shapes3d"  # inside the dataset root
DATASETS_3D = {
    "shapes": f"{len(shapes.CLASSES)} classes of procedural solids ({shapes.PER_CLASS} per class), made here; offline",
    "meshes:PATH": "your own meshes (.obj .off .stl .ply), one sub-folder per class (ShapeNet and ModelNet layouts)",
}


@dataclass
class ShapeSet:
    name: str  # "shapes" | "meshes:/abs/path"
    points: np.ndarray  # float32 [N, M, 3] occupancy sample points in [-1, 1]^3
    occupancy: np.ndarray  # uint8 [N, M], 1 = inside
    surface: np.ndarray  # float32 [N, S, 3] points on the true surface
    labels: np.ndarray  # int64 [N]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) of meshes left out
    modality: str = "occupancy3d"

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()

    def subset(self, idx) -> "ShapeSet":
        idx = np.asarray(idx)
        return ShapeSet(self.name, self.points[idx], self.occupancy[idx], self.surface[idx], self.labels[idx],
                        list(self.classes), list(self.skipped), self.modality)


def cache_dir(root: Path | str | None) -> Path | None:
    return None if root is None else Path(root) / CACHE_FOLDER


def load_shapes(name: str, root: Path | str | None, progress: ProgressFn = null_progress, *,
                per_class: int = shapes.PER_CLASS, n_points: int = N_POINTS, n_surface: int = N_SURFACE,
                seed: int = 0) -> ShapeSet:
    """A 3D dataset by name; `root` is the workspace's dataset folder, where computed samples are cached (None:
    no cache). `per_class` and `seed` apply to `shapes`; `progress(done, total)` counts shapes (or meshes)."""
    if n_points < 2 or n_surface < 1:
        raise UserError(f"3D datasets need at least 2 occupancy points and 1 surface point per shape "
                        f"(got {n_points} and {n_surface})")
    if name == "shapes":
        return _shapes(root, progress, per_class, n_points, n_surface, seed)
    if name.startswith("meshes:"):
        path = Path(name[len("meshes:"):]).expanduser().resolve()
        points, occupancy, surface, labels, classes, skipped = load_meshes(path, cache_dir(root), progress,
                                                                           n_points, n_surface)
        return ShapeSet(f"meshes:{path}", points, occupancy, surface, labels, classes, skipped)
    raise UserError(f"unknown 3D dataset {name!r}: choose shapes or meshes:PATH")


def _shapes(root, progress, per_class: int, n_points: int, n_surface: int, seed: int) -> ShapeSet:
    if per_class < 1:
        raise UserError(f"shapes needs at least 1 shape per class (got {per_class})")
    params = {"dataset": "shapes", "version": shapes.VERSION, "classes": list(shapes.CLASSES), "seed": seed,
              "per_class": per_class, "n_points": n_points, "n_surface": n_surface}
    key = sample_cache.digest(params)
    total = per_class * len(shapes.CLASSES)
    cached = sample_cache.read(cache_dir(root), key)
    if cached is not None and valid_samples(cached[0], total, n_points, n_surface):
        arrays = cached[0]
        progress(total, total)
        return ShapeSet("shapes", arrays["points"], arrays["occupancy"], arrays["surface"], arrays["labels"],
                        list(shapes.CLASSES))
    points, occupancy, surface, labels, classes = shapes.generate(per_class, seed, n_points, n_surface, progress)
    sample_cache.write(cache_dir(root), key, {"points": points, "occupancy": occupancy, "surface": surface,
                                              "labels": labels}, {"params": params})
    return ShapeSet("shapes", points, occupancy, surface, labels, classes)


def shape_class_names(name: str) -> list[str]:
    """A 3D dataset's class names, label i first, without sampling anything (a meshes folder is only listed)."""
    if name == "shapes":
        return list(shapes.CLASSES)
    if name.startswith("meshes:"):
        return [d.name for d in class_folders(Path(name[len("meshes:"):]).expanduser().resolve())]
    raise UserError(f"unknown 3D dataset {name!r}: choose shapes or meshes:PATH")


def shape_dataset_info(name: str, root: Path | str | None) -> DatasetInfo:
    """What a listing says about a 3D dataset, without computing any samples: `shapes` is known from its
    settings; a `meshes:` folder is scanned, and meshes already found unusable (cached) are listed as skipped."""
    if name == "shapes":
        n = len(shapes.CLASSES)
        return DatasetInfo("shapes", DATASETS_3D["shapes"], True, n * shapes.PER_CLASS, [shapes.PER_CLASS] * n,
                           list(shapes.CLASSES), kind="3D")
    desc = DATASETS_3D["meshes:PATH"]
    try:
        classes, counts, skipped, pending = survey(Path(name[len("meshes:"):]).expanduser().resolve(),
                                                   cache_dir(root))
    except UserError as e:
        return DatasetInfo(name, desc, False, hint=str(e), kind="3D")
    hint = (f"{pending} mesh{'es' if pending != 1 else ''} not sampled yet: the first load computes their "
            f"occupancy (cached after)" if pending else "")
    return DatasetInfo(name, desc, True, sum(counts), counts, classes, hint=hint, skipped=skipped, kind="3D")
