"""The modality seam: what a dataset's items are, how fields fit, draw and are judged — looked up in ONE place.

A modality is one package (`image2d`, `occupancy3d`) with a declaration (`base.Modality`: the datasets it claims,
its nouns, its preset twin, its fitting, evaluation and dataset modules). A run's modality is data: its dataset
names it before fitting (`for_dataset`), its `layout.json` (dim, target) after (`for_layout`), a sample's or an
eval's JSON by name (`get`). Every stage and front end asks these lookups and never tests a dataset's name, so a
third modality is one new package plus one line in MODALITIES.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..progress import ProgressFn, null_progress
from .base import Modality, Nouns
from .image2d import IMAGE2D
from .occupancy3d import OCCUPANCY3D

MODALITIES: dict[str, Modality] = {m.name: m for m in (IMAGE2D, OCCUPANCY3D)}  # (dim, target) unique each
DEFAULT = IMAGE2D  # a dataset name nobody claims goes here, whose loader refuses it naming every kind

__all__ = ["DEFAULT", "MODALITIES", "Modality", "Nouns", "built_in", "class_names", "dataset_info", "described",
           "for_dataset", "for_layout", "for_run", "get", "list_datasets", "names", "prepare_dataset"]


def names() -> list[str]:
    return list(MODALITIES)


def get(name: str | None) -> Modality:
    """A modality by name; None (a file written before modalities were recorded) is the 2D one."""
    if name is None:
        return DEFAULT
    if name not in MODALITIES:
        raise UserError(f"unknown field modality {name!r}: {' | '.join(MODALITIES)}")
    return MODALITIES[name]


def for_dataset(dataset: str) -> Modality:
    """The modality a dataset's items are fitted as: the one that claims it."""
    return next((m for m in MODALITIES.values() if m.claims(dataset)), DEFAULT)


def for_layout(layout) -> Modality:
    """The modality of a fitted run, from its layout's (dim, target)."""
    for m in MODALITIES.values():
        if (m.dim, m.target) == (layout.dim, layout.target):
            return m
    raise UserError(f"no modality fits dim {layout.dim} with target {layout.target!r}: {' | '.join(MODALITIES)}")


def for_run(run) -> Modality:
    """The modality of a run, from its config's dataset (known before anything is fitted)."""
    return for_dataset(run.config().data.dataset)


# datasets across modalities ------------------------------------------------------------------------------------------
def prepare_dataset(name: str, root: Path, download: bool = False, progress: ProgressFn = null_progress):
    """Make a dataset ready (`nfgen data prepare`): see `Modality.prepare`."""
    return for_dataset(name).prepare(name, root, download, progress)


def class_names(name: str) -> list[str]:
    return for_dataset(name).class_names(name)


def dataset_info(name: str, root: Path, load=None):
    return for_dataset(name).info(name, root, load)


def built_in() -> list[str]:
    """Every modality's built-in datasets, in MODALITIES order."""
    return [n for m in MODALITIES.values() for n in m.built_in]


def list_datasets(root: Path, extra: list[str] = (), load=None) -> list:
    """The built-in datasets, then `extra` (folder and meshes datasets the workspace's runs use or the user added);
    `load` as in `dataset_info`."""
    built_in_names = built_in()
    return [dataset_info(n, root, load) for n in (*built_in_names, *(e for e in extra if e not in built_in_names))]


def described() -> dict[str, str]:
    """Every dataset (or `prefix:PATH` pattern) any modality knows, with its one-line description."""
    return {k: v for m in MODALITIES.values() for k, v in m.described.items()}
