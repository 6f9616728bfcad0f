"""The sweep's grid of sampling settings, the key of one cell, and the rule that picks the best cell.

A cell is keyed by its settings alone (`t0.8-k3-p1`, and `-g2` / `-g2-linear` for a guided cell), so results stored
under that key are found again after an interruption or when a later sweep's grid overlaps an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import cfg_schedule_ok
from ..errors import UserError
from ..model import checkpoint as ckpt
from ..model.guidance import check_guidance
from ..tokens.stage import load_vocab
from .axis import parse_cfgs, parse_values
from .ar_grid import TABLE as AR_TABLE
from .ddim_grid import TABLE as DDIM_TABLE
from .table import TableAxes

METRICS = ("nna", "mmd", "cov", "classifier_accuracy", "memorization_rate")
LOWER_IS_BETTER = {"nna": True, "mmd": True, "cov": False, "classifier_accuracy": False, "memorization_rate": True}
LABELS = {"nna": "1-NNA", "mmd": "MMD", "cov": "COV", "classifier_accuracy": "classifier accuracy",
          "memorization_rate": "memorization rate"}
# the GPT's grid where `nfgen sweep` is not given an axis
DEFAULT_TEMPERATURES = (0.6, 0.8, 1.0, 1.2)
DEFAULT_TOP_KS = (1, 3, 5, 10, 0)
DEFAULT_TOP_PS = (1.0,)
DEFAULT_CFGS = (1.0,)
DEFAULT_SCHEDULES = ("constant",)
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

    @staticmethod
    def best_entry(cell: dict) -> dict:
        """The `best` record of sweep.json: the setting (cells stored before guidance: cfg 1) and its scores."""
        return {"cfg": 1.0, "cfg_schedule": "constant",
                **{k: cell[k] for k in ("key", "temperature", "top_k", "top_p", "cfg", "cfg_schedule", "nna", "mmd",
                                        "cov", "classifier_accuracy", "memorization_rate") if k in cell}}


def cell_key(temperature: float, top_k: int, top_p: float, cfg: float = 1.0, cfg_schedule: str = "constant") -> str:
    """Same number formatting as the sample folder ids (`t0.8-k3-p1`); guidance adds `-g<s>` and a schedule other
    than constant (`-g2-first50`), so unguided keys stay those of sweeps made before guidance."""
    key = f"t{float(temperature):g}-k{int(top_k)}-p{float(top_p):g}"
    if float(cfg) != 1.0:
        key += f"-g{float(cfg):g}" + ("" if cfg_schedule == "constant" else "-" + cfg_schedule.replace(":", ""))
    return key


def cell_label(cell: dict) -> str:
    """A short label of a cell's setting for pictures (`T1 p0.9 g2`, a diffusion cell `50 steps g2`): only what
    differs from plain sampling, in the words of the cell's table."""
    return table_of(cell).label(cell)


def gpt_label(cell: dict) -> str:
    """`T1 p0.9 g2`: a GPT cell."""
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


def parse_grid(temperatures, top_ks, top_ps, cfgs=(1.0,), schedules=("constant",)) -> list[Setting]:
    """Every combination, in grid order (temperature, top-k, top-p, cfg, schedule), after checking each value."""
    ts = parse_values(temperatures, float, "temperature")
    ks = parse_values(top_ks, int, "top-k")
    ps = parse_values(top_ps, float, "top-p")
    gs = parse_cfgs(cfgs)
    ss = parse_values(schedules, str, "cfg-schedule")
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


def sweep_settings(run, cfg, axes: dict) -> list[Setting]:
    """The GPT's sweep grid (temperature × top-k × top-p × cfg × schedule), the defaults above for the axes not
    given; refused before any cell when the run has no trained GPT or a guided cell meets a model without the null
    class. (Its declaration in model/generator.py names this module as its grid.)"""
    def pick(name, default):
        return default if axes.get(name) is None else axes[name]

    settings = parse_grid(pick("temperatures", DEFAULT_TEMPERATURES), pick("top_ks", DEFAULT_TOP_KS),
                          pick("top_ps", DEFAULT_TOP_PS), pick("cfgs", DEFAULT_CFGS),
                          pick("cfg_schedules", DEFAULT_SCHEDULES))
    where = ckpt.find(run.stage_dir("train") / "ckpt")
    if where is None:
        raise UserError(f"run {run.name!r} has no trained transformer: run `nfgen train {run.name}` first")
    guided = [s.cfg for s in settings if s.cfg != 1.0]
    if guided:
        check_guidance(guided[0], ckpt.load_state(where), load_vocab(run).null_class, f"run {run.name!r}")
    return settings


def grid_axes(settings: list) -> dict:
    """The distinct values per axis (each field of a setting), in first-seen order (what sweep.json stores as
    `grid`): temperature, top_k, top_p, cfg, cfg_schedule for the GPT; steps, eta, cfg for diffusion."""
    return {name: list(dict.fromkeys(s.as_dict()[name] for s in settings)) for name in settings[0].as_dict()}


def _gpt_bare_panels(g: dict) -> list[tuple]:
    """A bare grid (pictures of hand-made sweeps): every (top-p, cfg, schedule), a schedule only when guided."""
    return [(p, c, x) for p in g["top_p"] for c in g.get("cfg", [1.0])
            for x in (["constant"] if c == 1.0 else g.get("cfg_schedule", ["constant"]))]


def _gpt_panel_title(p: float, g: float = 1.0, sched: str = "constant") -> str:
    """`top-p 0.9, cfg 2 (linear)`."""
    title = f"top-p {p:g}"
    if g != 1.0:
        title += f", cfg {g:g}" + ("" if sched == "constant" else f" ({sched})")
    return title


GPT_TABLE = TableAxes("temperature", "top_k", ("top_p", "cfg", "cfg_schedule"), "T \\ top-k",
                      "rows: temperature T, columns: top-k", lambda t: f"T {t:g}", lambda k: "off" if k == 0 else str(k),
                      {"cfg": 1.0, "cfg_schedule": "constant"}, _gpt_panel_title, gpt_label, _gpt_bare_panels)
TABLES = (GPT_TABLE, DDIM_TABLE, AR_TABLE)  # one per grid module


def table_of(names) -> TableAxes:
    """The table of a grid or cell with these setting fields (a grid of none known: the GPT's)."""
    known = set().union(*(t.fields for t in TABLES))
    return next((t for t in TABLES if t.fits(set(names) & known)), GPT_TABLE)


def table_axes(sweep: dict) -> TableAxes:
    """The table of a stored sweep, found from its grid's fields."""
    return table_of(sweep.get("grid", {}))


def panels(sweep: dict) -> list[tuple]:
    """The panels of the pictures and heat tables, in grid order: (top-p, cfg, schedule) of a GPT sweep (one stored
    before guidance: cfg 1, constant), (eta,) of a diffusion sweep, (steps, eta) of an ar-diffusion sweep."""
    return table_axes(sweep).panels(sweep)


def panel_title(sweep: dict, panel: tuple) -> str:
    """`top-p 0.9, cfg 2 (linear)` of a GPT panel, `eta 0` of a diffusion panel, … (the table's own words)."""
    return table_axes(sweep).panel_title(*panel)


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
