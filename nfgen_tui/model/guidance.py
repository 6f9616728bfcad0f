"""Classifier-free guidance: the scale at each weight position, and how guided logits are formed.

A model trained with the null class in place of the class token (`train.class_dropout`) predicts both p(token | class)
and p(token); sampling mixes them as `uncond + s · (cond − uncond)` (s = 1: the conditional model alone, s > 1: pushed
away from the unconditional one). The schedule says where along the sequence guidance applies: `constant` (s
everywhere), `linear` (1 at the first weight token rising to s at the last, LlamaGen's ramp) or `first:N` (s on the
first N weight tokens, 1 after them — the sampler then drops the unconditional rows and runs at plain speed).
"""

from __future__ import annotations

import torch

from ..errors import UserError

SCHEDULES = "constant | linear | first:N"


def guidance_scales(cfg: float, schedule: str, n_tokens: int) -> list[float]:
    """The guidance scale at each of the `n_tokens` weight positions."""
    if cfg < 0:
        raise UserError(f"--cfg must be >= 0 (1 = no guidance), got {cfg:g}")
    if schedule == "constant":
        return [float(cfg)] * n_tokens
    if schedule == "linear":
        return [1.0 + (cfg - 1.0) * i / max(n_tokens - 1, 1) for i in range(n_tokens)]
    head, _, n = str(schedule).partition(":")
    if head == "first" and n.isdigit() and int(n) > 0:
        return [float(cfg) if i < int(n) else 1.0 for i in range(n_tokens)]
    raise UserError(f"sample.cfg_schedule: {SCHEDULES}, got {schedule!r}")


def is_guided(cfg: float) -> bool:
    """False at scale 1: the sampler then decodes the conditional rows alone (plain sampling, whatever the schedule)."""
    return float(cfg) != 1.0


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """[B, V] conditional and unconditional logits → guided logits (float32); scale 1 returns cond unchanged."""
    cond = cond.float()
    if scale == 1.0:
        return cond
    return uncond.float() + scale * (cond - uncond.float())


def check_guidance(cfg: float, state: dict, null_class: int | None, where: str) -> None:
    """Refuse a scale ≠ 1 for a model that never saw the null class: its unconditional logits would be noise."""
    if cfg < 0:
        raise UserError(f"--cfg must be >= 0 (1 = no guidance), got {cfg:g}")
    if cfg == 1.0:
        return
    if null_class is None:
        raise UserError(f"--cfg {cfg:g} needs a codebook with a null class (this one predates it): rerun "
                        f"`nfgen codebook --force` and train with train.class_dropout > 0, or sample with --cfg 1")
    if float(state.get("class_dropout") or 0.0) <= 0:
        raise UserError(f"--cfg {cfg:g} needs a model trained with train.class_dropout > 0 ({where} was trained "
                        f"without it): sample with --cfg 1, or train a run with --set train.class_dropout=0.1")
