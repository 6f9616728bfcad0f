"""The image datasets as the modality seam offers them: prepare, class names, listing, `nfgen data show`, a sample
folder's pictures and the classifier that scores generated images. The loaders themselves live in `data.datasets`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.datasets import class_names, dataset_info, load_dataset, skipped_text
from ...progress import ProgressFn
from ...termimage import halfblock_grid

__all__ = ["class_names", "info", "prepare", "sample_pictures", "show", "train_classifier"]


def prepare(name: str, root: Path, download: bool, progress: ProgressFn):
    """Downloaded (`download`) or its files checked: the loaded Dataset."""
    return load_dataset(name, root, download=download)


def info(name: str, root: Path, load=None):
    return dataset_info(name, root) if load is None else dataset_info(name, root, load)


def show(name: str, root: Path, n: int, console) -> None:
    """Class counts and `n` random images drawn in half blocks."""
    ds = load_dataset(name, root)
    console.print(f"[bold]{ds.name}[/]: {len(ds)} images, {len(ds.classes)} classes")
    for c, k in zip(ds.classes, ds.class_counts()):
        console.print(f"  {c:>10}: {k}")
    if ds.skipped:
        console.print(skipped_text(ds.skipped), markup=False, highlight=False, soft_wrap=True)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ds), size=min(max(n, 1), len(ds)), replace=False))
    console.print(halfblock_grid(ds.images[pick], cols=max(1, min(10, console.width // 29))))
    console.print("labels: " + " ".join(ds.classes[i] for i in ds.labels[pick]))


def sample_pictures(folder: Path, meta: dict, view: int = 0) -> tuple[np.ndarray, dict]:
    """The sample's images [N, H, W] in [0, 1] (`images.npy`); `view` has no meaning here."""
    return np.load(folder / "images.npy", allow_pickle=False), meta


def train_classifier(workspace, dataset: str, epochs: int, seed: int, device, force: bool, progress: ProgressFn):
    from .classifier import get_classifier

    return get_classifier(workspace, dataset, epochs=epochs, seed=seed, force=force, device=device,
                          progress=progress)
