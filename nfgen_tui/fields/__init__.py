"""Neural fields: layout, batched functional forward, shared initialization, batched fitting, rendering."""

from .fit import fit_fields
from .functional import coordinates, encode, forward, psnr
from .init import INIT_MODES, weight_spread
from .layout import LayerSpec, Layout, layout_from_config
from .render import render

__all__ = ["INIT_MODES", "LayerSpec", "Layout", "coordinates", "encode", "fit_fields", "forward", "layout_from_config",
           "psnr", "render", "weight_spread"]
