"""The modality seam: what a field's coordinates are and what it predicts, looked up in ONE place.

A modality is one module (`image2d`, `occupancy3d`) giving the same names: `NAME`, `DIM`, `TARGET`, `QUALITY` (the
per-field score's name, e.g. `psnr`), `load(cfg, root)` (the run's selected fitting targets, labels and split),
`fit(data, start, stop, init, layout, fc, seed, device, on_step, log_every)`, `score(weights, layout, data, device)`,
`agreement(weights_a, weights_b, layout, data, device)` and `render(weights, layout, size)`. The fit stage, the
codebook stage and the sampler call these and nothing modality-specific; a run's modality is read back from its
`layout.json` (dim, target), so a third modality is one new module plus one line in MODALITIES.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import UserError

MODALITIES = {  # name -> module; each module's (DIM, TARGET) must be unique
    "image2d": "nfgen_tui.fields.image2d",
    "occupancy3d": "nfgen_tui.fields.occupancy3d",
}


def get(name: str) -> ModuleType:
    if name not in MODALITIES:
        raise UserError(f"unknown field modality {name!r}: {' | '.join(MODALITIES)}")
    return importlib.import_module(MODALITIES[name])


def for_layout(layout) -> ModuleType:
    """The modality of a fitted run, from its layout's (dim, target)."""
    for name in MODALITIES:
        mod = get(name)
        if (mod.DIM, mod.TARGET) == (layout.dim, layout.target):
            return mod
    raise UserError(f"no modality fits dim {layout.dim} with target {layout.target!r}: {' | '.join(MODALITIES)}")


def for_dataset(dataset: str) -> ModuleType:
    """The modality a dataset's items are fitted as: shapes (`shapes`, `meshes:PATH`) are 3D occupancy, the rest
    are 2D images."""
    from ..data.shapeset import is_shape_dataset

    return get("occupancy3d" if is_shape_dataset(dataset) else "image2d")
