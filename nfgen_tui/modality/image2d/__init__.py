"""Modality `image2d`: fields of pixel centres (x, y) → intensity, fitted to 28 px images, scored by PSNR, evaluated
with SSIM distances and a CNN classifier. Claims `mnist-5k`, `mnist`, `fashion-mnist` and `folder:PATH`."""

from __future__ import annotations

from ...data.datasets import BUILT_IN, DATASETS
from ..base import Modality, Nouns


class Image2D(Modality):
    name = "image2d"
    dim = 2
    target = "intensity"
    quality = "psnr"  # dB, rendered field against its image
    quality_unit = "dB"
    nouns = Nouns(item="image", items="images", kind="images", generated="digits")
    built_in = BUILT_IN
    described = DATASETS
    preset_suffix = ""
    prepare_progress = None
    prepared = ""
    gallery = "images"
    first_use = ""
    no_download = ""
    size_label = None
    sweeps = True
    fields_module = "nfgen_tui.modality.image2d.fields"
    evaluate_module = "nfgen_tui.modality.image2d.evaluate"
    datasets_module = "nfgen_tui.modality.image2d.datasets"

    def claims(self, dataset: str) -> bool:
        return dataset in BUILT_IN or dataset.startswith("folder:")


IMAGE2D = Image2D()
