"""One axis of a sweep grid, as `nfgen sweep` is given it (`--cfg 1,1.5,2`): parsed and checked before any cell.
Every grid uses it — the GPT's (grid.py), the denoiser's (ddim_grid.py), the ar-diffusion one's (ar_grid.py)."""

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


def parse_ddim_steps(steps, timesteps: int, key: str) -> list[int]:
    """A DDIM-steps axis, each in 1..T (`key`: the config key of T, named by the refusal)."""
    ns = parse_values(steps, int, "steps")
    if any(not 1 <= n <= timesteps for n in ns):
        raise UserError(f"--steps values must be in 1..{timesteps} ({key}), got {ns}")
    return ns


def parse_etas(etas) -> list[float]:
    """A DDIM-eta axis, each in [0, 1]."""
    es = parse_values(etas, float, "eta")
    if any(not 0.0 <= e <= 1.0 for e in es):
        raise UserError(f"--eta values must be in [0, 1] (0 = deterministic DDIM), got {es}")
    return es
