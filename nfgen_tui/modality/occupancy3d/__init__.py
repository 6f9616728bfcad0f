"""Modality `occupancy3d`: fields of points (x, y, z) in [-1, 1]^3 → occupancy logit, fitted to each shape's
occupancy samples, scored by IoU, evaluated with Chamfer distances and a point classifier. Claims the built-in
`shapes` and `meshes:PATH`."""

from __future__ import annotations

from ...data.shapeset import DATASETS_3D
from ..base import Modality, Nouns


class Occupancy3D(Modality):
    name = "occupancy3d"
    dim = 3
    target = "occupancy"
    quality = "iou"  # predicted vs true occupancy on each shape's held-out samples, 0..1
    quality_unit = ""
    nouns = Nouns(item="shape", items="shapes", kind="3D shapes", generated="shapes")
    built_in = ("shapes",)
    described = DATASETS_3D
    preset_suffix = "3d"
    prepare_progress = "samples"
    prepared = " (samples cached)"
    gallery = "shape views"
    first_use = "(shapes are made, meshes sampled, on first use)"
    no_download = ("needs no download: a run makes its shapes (or samples its meshes) on first use and caches them in "
                   "the datasets folder")
    size_label = "mesh grid per side"  # a 3D sample's size is its marching-cubes grid
    sweeps = False
    fields_module = "nfgen_tui.modality.occupancy3d.fields"
    evaluate_module = "nfgen_tui.modality.occupancy3d.evaluate"
    datasets_module = "nfgen_tui.modality.occupancy3d.datasets"

    def claims(self, dataset: str) -> bool:
        return dataset == "shapes" or dataset.startswith("meshes:")


OCCUPANCY3D = Occupancy3D()
