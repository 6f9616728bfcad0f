"""One axis of a sweep grid, as `nfgen sweep` is given it (`--cfg 1,1.5,2`): parsed and checked before any cell.
Both grids use it — the GPT's (grid.py) and the denoiser's (ddim_grid.py)."""

from __future__ import annotations

from ..errors import UserError


def parse_values(text: str | list, conv, name: str) -> list:
    """The values of one axis (`0.6,0.8` or a list), each converted, repeats dropped; refused naming `--name`."""
    items = text if isinstance(text, (list, tuple)) else [s for s in str(text).replace(" ", "").split(",") if s]
    try:
        values = [conv(v) for v in items]
    except ValueError:
        raise UserError(f"--{name} takes a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise UserError(f"--{name} needs at least one value")
    return list(dict.fromkeys(values))  # drop repeats, keep order


def parse_cfgs(cfgs) -> list[float]:
    """The guidance axis of either generator's grid."""
    gs = parse_values(cfgs, float, "cfg")
    if any(g < 0 for g in gs):
        raise UserError(f"--cfg values must be >= 0 (1 = no guidance), got {gs}")
    return gs
