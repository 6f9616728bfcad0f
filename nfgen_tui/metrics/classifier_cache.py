"""The workspace cache of the scoring classifiers (2D CNN, 3D point network): one folder per trained network,
`model.safetensors` + `report.json`, so every run and baseline is scored by the same network and an eval does not
pay for training it again. The report is written last: a folder without one is an unfinished entry."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..workspace import atomic_path, atomic_write_json, read_json


def safe_name(dataset: str) -> str:
    """A dataset name usable as a folder name; a folder dataset's path becomes a safe tail plus a short hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset).strip("._") or "dataset"
    if safe != dataset:
        safe = f"{safe[-40:]}-{hashlib.sha1(dataset.encode()).hexdigest()[:8]}"
    return safe


def load_cached(folder: Path, expect: dict, build: Callable[[dict], torch.nn.Module],
                device: torch.device) -> tuple[torch.nn.Module, dict] | None:
    """The cached network when its report matches `expect` on every key; None when missing or made otherwise.
    A damaged weights file is a user error naming the way out."""
    weights_path, report_path = folder / "model.safetensors", folder / "report.json"
    if not (report_path.exists() and weights_path.exists()):
        return None
    report = read_json(report_path)
    if any(report.get(k) != v for k, v in expect.items()):
        return None
    model = build(report)
    try:
        model.load_state_dict(load_file(str(weights_path)))
    except Exception as e:
        raise UserError(f"cached classifier {weights_path} is unreadable ({e}); retrain with --force") from None
    return model.to(device).eval(), {**report, "cached": True}


def save_cached(folder: Path, model: torch.nn.Module, report: dict) -> dict:
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    atomic_write_json(folder / "report.json", report)  # last: the entry is complete
    return {**report, "cached": False}
