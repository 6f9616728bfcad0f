"""The sweep grid of a diffusion run: DDIM steps × eta × guidance scale, one cell per combination.

A diffusion cell is keyed `s50-e0-g2` (steps, eta, cfg, always all three): GPT keys start with `t`, so both kinds'
cells can share one sweep.json folder without a collision, and a cell is found again by its settings alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .axis import parse_cfgs, parse_ddim_steps, parse_etas
from .table import TableAxes
from .trained import check_guided, guidable, trained_state

DEFAULT_GUIDED_CFGS = (1.0, 1.5, 2.0, 3.0)  # a model trained with the null class: sweep the guidance scale


@dataclass(frozen=True)
class DiffusionSetting:
    steps: int  # DDIM steps (1..diffusion.timesteps)
    eta: float  # DDIM noise (0 = deterministic)
    cfg: float = 1.0  # classifier-free guidance scale on the predicted x0 (1 = off)

    @property
    def key(self) -> str:
        return f"s{int(self.steps)}-e{float(self.eta):g}-g{float(self.cfg):g}"

    def as_dict(self) -> dict:
        return {"steps": self.steps, "eta": self.eta, "cfg": self.cfg}

    @staticmethod
    def best_entry(cell: dict) -> dict:
        """The `best` record of sweep.json: the setting and its scores."""
        return {k: cell[k] for k in ("key", "steps", "eta", "cfg", "nna", "mmd", "cov", "classifier_accuracy",
                                     "memorization_rate") if k in cell}


def parse_ddim_grid(cfgs, steps, etas, timesteps: int) -> list[DiffusionSetting]:
    """Every combination in grid order (steps, eta, cfg), after checking each value against the run's schedule."""
    ns = parse_ddim_steps(steps, timesteps, "diffusion.timesteps")
    es = parse_etas(etas)
    gs = parse_cfgs(cfgs)
    return [DiffusionSetting(n, e, g) for n in ns for e in es for g in gs]


def sweep_settings(run, cfg, axes: dict) -> list[DiffusionSetting]:
    """The diffusion sweep grid (DDIM steps × eta × cfg). Defaults: the run's sample.steps and sample.eta, and cfg
    1, 1.5, 2, 3 when the denoiser was trained with the null class (cfg 1 alone when not: the GPT's sweep, too, leaves
    guidance off unless asked). Refused before any cell without a trained denoiser, or a guided cell on an unguided one.
    (Its declaration in model/generator.py names this module as its grid.)"""
    state = trained_state(run, "diffusion", "denoiser")
    cfgs = axes.get("cfgs")
    if cfgs is None:
        cfgs = DEFAULT_GUIDED_CFGS if guidable(state) else (1.0,)
    steps = (cfg.sample.steps,) if axes.get("steps") is None else axes["steps"]
    etas = (cfg.sample.eta,) if axes.get("etas") is None else axes["etas"]
    settings = parse_ddim_grid(cfgs, steps, etas, cfg.diffusion.timesteps)
    check_guided(settings, state, run)
    return settings


def ddim_label(cell: dict) -> str:
    """`50 steps g2` (and ` eta0.5` when the sampler adds noise): what a front picture prints beside a point."""
    label = f"{cell['steps']} steps g{cell.get('cfg', 1.0):g}"
    return label + (f" eta{cell['eta']:g}" if cell.get("eta", 0.0) != 0.0 else "")


TABLE = TableAxes("steps", "cfg", ("eta",), "steps \\ cfg", "rows: DDIM steps, columns: guidance scale cfg",
                  lambda n: f"{n} steps", lambda g: f"g{g:g}", panel_title=lambda eta: f"eta {eta:g}",
                  label=ddim_label)
