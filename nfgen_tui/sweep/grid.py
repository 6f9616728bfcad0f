"""The sweep's grid of sampling settings, the key of one cell, and the rule that picks the best cell.

A cell is keyed by its settings alone (`t0.8-k3-p1`, and `-g2` / `-g2-linear` for a guided cell), so results stored
under that key are found again after an interruption or when a later sweep's grid overlaps an earlier one.
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
    cfg: float = 1.0  # classifier-free guidance scale (1 = off)
    cfg_schedule: str = "constant"

    @property
    def key(self) -> str:
        return cell_key(self.temperature, self.top_k, self.top_p, self.cfg, self.cfg_schedule)

    def as_dict(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p, "cfg": self.cfg,
                "cfg_schedule": self.cfg_schedule}


def cell_key(temperature: float, top_k: int, top_p: float, cfg: float = 1.0, cfg_schedule: str = "constant") -> str:
    """Same number formatting as the sample folder ids (`t0.8-k3-p1`); guidance adds `-g<s>` and a schedule other
    than constant (`-g2-first50`), so unguided keys stay those of sweeps made before guidance."""
    key = f"t{float(temperature):g}-k{int(top_k)}-p{float(top_p):g}"
    if float(cfg) != 1.0:
        key += f"-g{float(cfg):g}" + ("" if cfg_schedule == "constant" else "-" + cfg_schedule.replace(":", ""))
    return key


def cell_label(cell: dict) -> str:
    """A short label of a cell's setting for pictures (`T1 p0.9 g2`): only what differs from plain sampling."""
    parts = [f"T{cell['temperature']:g}"]
    if cell.get("top_k"):
        parts.append(f"k{cell['top_k']}")
    if cell.get("top_p", 1.0) != 1.0:
        parts.append(f"p{cell['top_p']:g}")
    if cell.get("cfg", 1.0) != 1.0:
        sched = cell.get("cfg_schedule", "constant")
        parts.append(f"g{cell['cfg']:g}" + ("" if sched == "constant" else f" {sched}"))
    return " ".join(parts)


def setting_of(cell: dict) -> tuple:
    """(temperature, top_k, top_p, cfg, cfg_schedule) of a cell record (cells stored before guidance: cfg 1)."""
    return (cell["temperature"], cell["top_k"], cell["top_p"], cell.get("cfg", 1.0),
            cell.get("cfg_schedule", "constant"))


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


def parse_grid(temperatures, top_ks, top_ps, cfgs=(1.0,), schedules=("constant",)) -> list[Setting]:
    """Every combination, in grid order (temperature, top-k, top-p, cfg, schedule), after checking each value."""
    from ..config import cfg_schedule_ok

    ts = _parse(temperatures, float, "temperature")
    ks = _parse(top_ks, int, "top-k")
    ps = _parse(top_ps, float, "top-p")
    gs = _parse(cfgs, float, "cfg")
    ss = _parse(schedules, str, "cfg-schedule")
    if any(g < 0 for g in gs):
        raise UserError(f"--cfg values must be >= 0 (1 = no guidance), got {gs}")
    if any(not cfg_schedule_ok(x) for x in ss):
        raise UserError(f"--cfg-schedule values: constant | linear | first:N (N > 0), got {ss}")
    if any(t <= 0 for t in ts):
        raise UserError(f"--temperature values must be > 0, got {ts}")
    if any(k < 0 for k in ks):
        raise UserError(f"--top-k values must be >= 0 (0 = off), got {ks}")
    if any(not 0 < p <= 1 for p in ps):
        raise UserError(f"--top-p values must be in (0, 1], got {ps}")
    out = [Setting(t, k, p, g, x if g != 1.0 else "constant") for t in ts for k in ks for p in ps for g in gs
           for x in ss]
    return list(dict.fromkeys(out))  # a schedule of an unguided cell is no schedule: one cell, not one per schedule


def grid_axes(settings: list[Setting]) -> dict:
    """The distinct values per axis, in first-seen order (what sweep.json stores as `grid`)."""
    return {"temperature": list(dict.fromkeys(s.temperature for s in settings)),
            "top_k": list(dict.fromkeys(s.top_k for s in settings)),
            "top_p": list(dict.fromkeys(s.top_p for s in settings)),
            "cfg": list(dict.fromkeys(s.cfg for s in settings)),
            "cfg_schedule": list(dict.fromkeys(s.cfg_schedule for s in settings))}


def panels(sweep: dict) -> list[tuple[float, float, str]]:
    """(top-p, cfg, schedule) of every T × top-k panel of the pictures and heat tables, in grid order (a sweep stored
    before guidance: cfg 1, constant)."""
    if "settings" not in sweep:  # a bare grid (pictures of hand-made sweeps): every combination
        g = sweep["grid"]
        return [(p, c, x) for p in g["top_p"] for c in g.get("cfg", [1.0])
                for x in (["constant"] if c == 1.0 else g.get("cfg_schedule", ["constant"]))]
    return list(dict.fromkeys((s["top_p"], s.get("cfg", 1.0), s.get("cfg_schedule", "constant"))
                              for s in sweep["settings"]))


def panel_title(p: float, g: float, sched: str) -> str:
    title = f"top-p {p:g}"
    if g != 1.0:
        title += f", cfg {g:g}" + ("" if sched == "constant" else f" ({sched})")
    return title


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
