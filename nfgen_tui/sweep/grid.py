"""The sweep's grid of sampling settings, the key of one cell, and the rule that picks the best cell.

A cell is keyed by its settings alone (`t0.8-k3-p1`), so results stored under that key are found again after an
interruption or when a later sweep's grid overlaps an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

METRICS = ("nna", "mmd", "cov", "classifier_accuracy", "memorization_rate")
LOWER_IS_BETTER = {"nna": True, "mmd": True, "cov": False, "classifier_accuracy": False, "memorization_rate": True}
LABELS = {"nna": "1-NNA", "mmd": "MMD", "cov": "COV", "classifier_accuracy": "classifier accuracy",
          "memorization_rate": "memorization rate"}
ACCURACY_TOLERANCE = 0.05
RULE = (f"lowest 1-NNA among cells whose classifier accuracy is within {ACCURACY_TOLERANCE} of the best "
        f"(ties: higher accuracy, then lower MMD, then grid order)")


@dataclass(frozen=True)
class Setting:
    temperature: float
    top_k: int
    top_p: float

    @property
    def key(self) -> str:
        return cell_key(self.temperature, self.top_k, self.top_p)

    def as_dict(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


def cell_key(temperature: float, top_k: int, top_p: float) -> str:
    """Same number formatting as the sample folder ids (`t0.8-k3-p1`)."""
    return f"t{float(temperature):g}-k{int(top_k)}-p{float(top_p):g}"


def _parse(text: str | list, conv, name: str) -> list:
    items = text if isinstance(text, (list, tuple)) else [s for s in str(text).replace(" ", "").split(",") if s]
    try:
        values = [conv(v) for v in items]
    except ValueError:
        raise UserError(f"--{name} takes a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise UserError(f"--{name} needs at least one value")
    out = list(dict.fromkeys(values))  # drop repeats, keep order
    return out


def parse_grid(temperatures, top_ks, top_ps) -> list[Setting]:
    """Every combination, in grid order (temperature, then top-k, then top-p), after checking each value."""
    ts = _parse(temperatures, float, "temperature")
    ks = _parse(top_ks, int, "top-k")
    ps = _parse(top_ps, float, "top-p")
    if any(t <= 0 for t in ts):
        raise UserError(f"--temperature values must be > 0, got {ts}")
    if any(k < 0 for k in ks):
        raise UserError(f"--top-k values must be >= 0 (0 = off), got {ks}")
    if any(not 0 < p <= 1 for p in ps):
        raise UserError(f"--top-p values must be in (0, 1], got {ps}")
    return [Setting(t, k, p) for t in ts for k in ks for p in ps]


def grid_axes(settings: list[Setting]) -> dict:
    """The distinct values per axis, in first-seen order (what sweep.json stores as `grid`)."""
    return {"temperature": list(dict.fromkeys(s.temperature for s in settings)),
            "top_k": list(dict.fromkeys(s.top_k for s in settings)),
            "top_p": list(dict.fromkeys(s.top_p for s in settings))}


def best_cell(cells: list[dict], tolerance: float = ACCURACY_TOLERANCE) -> dict | None:
    """The RULE applied to cell records (each with nna, classifier_accuracy, mmd); None when no cell has both scores.

    Accuracy guards against a sampler that wins on 1-NNA by drawing plausible strokes of the wrong digit."""
    scored = [c for c in cells if c.get("nna") is not None and c.get("classifier_accuracy") is not None]
    if not scored:
        return None
    top = max(c["classifier_accuracy"] for c in scored)
    eligible = [(i, c) for i, c in enumerate(scored) if c["classifier_accuracy"] >= top - tolerance - 1e-12]
    _, best = min(eligible, key=lambda ic: (ic[1]["nna"], -ic[1]["classifier_accuracy"],
                                            ic[1].get("mmd") if ic[1].get("mmd") is not None else float("inf"),
                                            ic[0]))
    return best
