"""The 3D datasets (`shapes`, `meshes:PATH`) as the modality seam offers them: prepare (compute and cache the
occupancy samples), class names, listing, `nfgen data show`, a sample folder's pictures and the point classifier
that scores generated shapes. The loaders themselves live in `data.shapeset`, `data.meshes` and `data.shapes`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.preview3d import show_shapes
from ...data.shapeset import load_shapes, shape_class_names, shape_dataset_info
from ...progress import ProgressFn

__all__ = ["class_names", "info", "prepare", "sample_pictures", "show", "train_classifier"]


def prepare(name: str, root: Path, download: bool, progress: ProgressFn):
    """Occupancy and surface samples computed once and cached under `root` (nothing to download): the ShapeSet."""
    return load_shapes(name, root, progress)


def class_names(name: str) -> list[str]:
    return shape_class_names(name)


def info(name: str, root: Path, load=None):
    """Listed without computing samples (`load` is for image datasets)."""
    return shape_dataset_info(name, root)


def show(name: str, root: Path, n: int, console) -> None:
    show_shapes(name, root, n, console)


def sample_pictures(folder: Path, meta: dict, view: int = 0) -> tuple[np.ndarray, dict]:
    """View `view` (mod the number of views) of every shape [N, H, W] in [0, 1] (`views.npy`); meta gains
    `n_views` and `view` (the shown view's azimuth)."""
    views = np.load(folder / "views.npy", allow_pickle=False)
    k = view % max(1, views.shape[1])
    azimuths = meta.get("view_azimuths") or list(range(views.shape[1]))
    meta = {**meta, "n_views": int(views.shape[1]), "view": azimuths[k] if k < len(azimuths) else k}
    return views[:, k].astype(np.float32) / 255.0, meta


def train_classifier(workspace, dataset: str, epochs: int, seed: int, device, force: bool, progress: ProgressFn):
    from .classifier import get_dataset_classifier3d

    return get_dataset_classifier3d(workspace, dataset, epochs, seed, device=device, force=force, progress=progress)
