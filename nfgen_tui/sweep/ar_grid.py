"""The sweep grid of an ar-diffusion run: temperature × head DDIM steps × eta × guidance scale.

A cell is keyed `ar-t1-s50-e0-g1.5` (all four, always): GPT keys start with `t`, the denoiser's with `s`, so cells
of every kind can share one sweep.json folder without a collision. Its heat tables: temperature rows × cfg columns,
one panel per (steps, eta).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from .axis import parse_cfgs, parse_ddim_steps, parse_etas, parse_values
from .table import TableAxes
from .trained import check_guided, guidable, trained_state

DEFAULT_TEMPERATURES = (0.8, 0.9, 1.0)
DEFAULT_GUIDED_CFGS = (1.0, 1.5, 2.0, 3.0)  # a model trained with the null class: sweep the guidance scale


@dataclass(frozen=True)
class ARSetting:
    temperature: float  # scales the head's start and step noise
    steps: int  # the head's DDIM steps per token (1..ar.timesteps)
    eta: float  # the head's DDIM noise (0 = deterministic)
    cfg: float = 1.0  # classifier-free guidance scale on the head's x0 (1 = off)

    @property
    def key(self) -> str:
        return f"ar-t{float(self.temperature):g}-s{int(self.steps)}-e{float(self.eta):g}-g{float(self.cfg):g}"

    def as_dict(self) -> dict:
        return {"temperature": self.temperature, "steps": self.steps, "eta": self.eta, "cfg": self.cfg}

    @staticmethod
    def best_entry(cell: dict) -> dict:
        """The `best` record of sweep.json: the setting and its scores."""
        return {k: cell[k] for k in ("key", "temperature", "steps", "eta", "cfg", "nna", "mmd", "cov",
                                     "classifier_accuracy", "memorization_rate") if k in cell}


TABLE = TableAxes("temperature", "cfg", ("steps", "eta"), "T \\ cfg", "rows: temperature T, columns: guidance scale "
                  "cfg", lambda t: f"T {t:g}", lambda g: f"g{g:g}",
                  panel_title=lambda steps, eta: f"{steps} head steps" + (f", eta {eta:g}" if eta else ""),
                  label=lambda c: f"T{c['temperature']:g} {c['steps']} steps g{c['cfg']:g}"
                  + (f" eta{c['eta']:g}" if c.get("eta") else ""))


def parse_ar_grid(temperatures, cfgs, steps, etas, timesteps: int) -> list[ARSetting]:
    """Every combination in grid order (temperature, steps, eta, cfg), each value checked."""
    ts = parse_values(temperatures, float, "temperature")
    ns = parse_ddim_steps(steps, timesteps, "ar.timesteps")
    es = parse_etas(etas)
    gs = parse_cfgs(cfgs)
    if any(t <= 0 for t in ts):
        raise UserError(f"--temperature values must be > 0, got {ts}")
    return [ARSetting(t, n, e, g) for t in ts for n in ns for e in es for g in gs]


def sweep_settings(run, cfg, axes: dict) -> list[ARSetting]:
    """The grid: temperatures 0.8, 0.9, 1 and cfg 1, 1.5, 2, 3 (cfg 1 alone for a model trained without the null
    class) × the run's sample.steps and sample.eta, unless given. Refused before any cell without a trained model of
    this kind, or a guided cell on an unguided one. (Its declaration in model/generator.py names this module.)"""
    state = trained_state(run, "ar-diffusion", "autoregressive generator")

    def pick(name, default):
        return default if axes.get(name) is None else axes[name]

    settings = parse_ar_grid(pick("temperatures", DEFAULT_TEMPERATURES),
                             pick("cfgs", DEFAULT_GUIDED_CFGS if guidable(state) else (1.0,)),
                             pick("steps", (cfg.sample.steps,)), pick("etas", (cfg.sample.eta,)), cfg.ar.timesteps)
    check_guided(settings, state, run)
    return settings
