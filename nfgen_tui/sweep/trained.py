"""The trained generator a sweep grid is checked against, before any cell: its checkpoint's state, of the right
kind, and whether its guided cells can be drawn (the denoiser's and the ar-diffusion grid share this)."""

from __future__ import annotations

from ..errors import UserError
from ..model import checkpoint as ckpt
from ..model.generator import check_kind
from ..model.guidance import check_guidance
from ..model.train_session import retrain_hint


def trained_state(run, kind: str, what: str) -> dict:
    """state.json of the run's last checkpoint; refused when there is none (`what`: "denoiser") or it holds another
    kind than `kind`."""
    fix = retrain_hint(run)
    where = ckpt.find(run.stage_dir("train") / "ckpt", fix)
    if where is None:
        raise UserError(f"run {run.name!r} has no trained {what}: run `nfgen train {run.name}` first")
    state = ckpt.load_state(where, fix)
    check_kind(state, kind, where, run.name)
    return state


def guidable(state: dict) -> bool:
    """Trained with the null class: the grid's default guidance axis sweeps the scale."""
    return float(state.get("class_dropout") or 0.0) > 0


def check_guided(settings: list, state: dict, run) -> None:
    """Refuse a guided cell on a model trained without the null class, before any cell is drawn."""
    n_classes = int((state.get("model") or {}).get("n_classes", 0))
    for s in settings:
        check_guidance(s.cfg, state, n_classes, f"run {run.name!r}")
