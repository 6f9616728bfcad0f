"""`nfgen pipeline RUN --seeds 0,1,2`: one whole run per seed (`RUN-s0`, `RUN-s1`, …) and one summary of them.

At 300 vs 300 the set metrics move by up to ~0.07 between seeds (other fields, split, reference set and samples), so
a claim about a preset is a mean with its spread over whole runs, each against its own baselines: the summary keeps
every seed's numbers, their mean, sample standard deviation, min and max, and whether each seed beat its own
marginal baseline on each metric. It is written to `<workspace>/seeds/RUN.json`.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .errors import UserError
from .pipeline import run_pipeline
from .sweep.grid import LABELS
from .workspace import Workspace, atomic_write_json

METRICS = ("mmd", "cov", "nna", "classifier_accuracy", "memorization_rate")
LOWER_IS_BETTER = {"mmd": True, "cov": False, "nna": True, "classifier_accuracy": False, "memorization_rate": True}


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError:
        raise UserError(f"--seeds takes a comma-separated list of integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds needs distinct integers >= 0, got {text!r}")
    return seeds


def seed_run_name(name: str, seed: int) -> str:
    return f"{name}-s{seed}"


def summary_path(ws: Workspace, name: str) -> Path:
    return ws.root / "seeds" / f"{name}.json"


def spread(values: list[float]) -> dict:
    """mean, sample std (0 for one value), min, max."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


MARGINALS = ("marginal", "marginal codes")  # the baselines a generator must beat on every metric, where present


def worst(values: dict[int, float], metric: str) -> dict:
    """The worst seed's value of `metric` (highest where lower is better): a preset is as good as its worst seed."""
    s = (max if LOWER_IS_BETTER[metric] else min)(values, key=lambda k: values[k])
    return {"worst": values[s], "worst_seed": s}


def summarize(evals: dict[int, dict]) -> dict:
    """seed → eval result (metrics.json) ⟶ per metric: the generated set's and each baseline's spread over seeds
    (the generated set's worst seed too), and per seed whether the generated set beat each marginal baseline."""
    seeds = sorted(evals)
    out: dict = {"seeds": seeds, "generated": {}, "baselines": {}, "per_seed": {}, "beats_marginal": {}}
    for m in METRICS:
        vals = [evals[s].get(m) for s in seeds]
        if all(v is not None for v in vals):
            out["generated"][m] = spread(vals) | worst(dict(zip(seeds, vals)), m)
    names = sorted(set.intersection(*(set(evals[s].get("baselines", {})) for s in seeds))) if seeds else []
    for b in names:
        out["baselines"][b] = {m: spread([evals[s]["baselines"][b][m] for s in seeds]) for m in METRICS
                               if all(evals[s]["baselines"][b].get(m) is not None for s in seeds)}
    for s in seeds:
        ev = evals[s]
        out["per_seed"][str(s)] = {m: ev.get(m) for m in METRICS} | {"sample_id": ev.get("sample_id")}
        for b in MARGINALS:
            marginal = ev.get("baselines", {}).get(b)
            if marginal is None:
                continue
            key = "beats_" + b.replace(" ", "_")
            out.setdefault(key, {})[str(s)] = {
                m: (ev[m] < marginal[m] if LOWER_IS_BETTER[m] else ev[m] > marginal[m])
                for m in METRICS if ev.get(m) is not None and marginal.get(m) is not None and m != "memorization_rate"}
    return out


def run_seeds(ws: Workspace, name: str, seeds: list[int], preset: str | None = None, dataset: str | None = None,
              overrides: list[str] | None = None, device: str | None = None, show_progress: bool = False,
              force: bool = False, note=lambda _: None) -> dict:
    """Every seed's whole pipeline (each resuming its own run), then the summary; returns it (also on disk)."""
    if any(o.split("=", 1)[0].strip() == "seed" for o in overrides or []):
        raise UserError("--seeds sets each run's seed: drop --set seed=…")
    evals, runs = {}, {}
    for s in seeds:
        rname = seed_run_name(name, s)
        res = run_pipeline(ws, rname, preset=preset, dataset=dataset, overrides=[*(overrides or []), f"seed={s}"],
                           device=device, show_progress=show_progress, force=force, note=note)
        if ws.run(rname).config().seed != s:
            raise UserError(f"run {rname!r} exists with seed {ws.run(rname).config().seed}, not {s}: "
                            f"choose another name")
        evals[s], runs[str(s)] = res["eval"], rname
    summary = {"name": name, "preset": preset, "overrides": list(overrides or []), "runs": runs, **summarize(evals)}
    atomic_write_json(summary_path(ws, name), summary)
    return {**summary, "summary": str(summary_path(ws, name))}


def _wins(wins: dict[str, bool]) -> str:
    """The metrics a seed beat a baseline on: "all" when every one (the common case stays one short cell)."""
    if wins and all(wins.values()):
        return "all"
    return ", ".join(LABELS[m] for m, ok in wins.items() if ok) or "none"


def print_summary(summary: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    seeds = summary["seeds"]
    t = Table(title=f"{summary['name']}: mean ± std over seeds {', '.join(map(str, seeds))}", title_justify="left")
    t.add_column("set")
    for m in METRICS:
        t.add_column(LABELS[m], justify="right")

    def cells(stats: dict) -> list[str]:
        return [f"{stats[m]['mean']:.3f} ± {stats[m]['std']:.3f}" if m in stats else "-" for m in METRICS]

    t.add_row("generated", *cells(summary["generated"]))
    g = summary["generated"]
    t.add_row("generated, worst seed", *(f"{g[m]['worst']:.3f} (seed {g[m]['worst_seed']})" if "worst" in g.get(m, {})
                                         else "-" for m in METRICS))
    for b, stats in summary["baselines"].items():
        t.add_row(b, *cells(stats))
    console.print(t)
    per = Table(title="per seed (generated)", title_justify="left")
    per.add_column("seed")
    for m in METRICS:
        per.add_column(LABELS[m], justify="right")
    beats = [(b, summary["beats_" + b.replace(" ", "_")]) for b in MARGINALS if "beats_" + b.replace(" ", "_") in summary]
    for b, _ in beats:
        per.add_column(f"beats {b} on")
    for s in seeds:
        row = summary["per_seed"][str(s)]
        per.add_row(str(s), *(f"{row[m]:.3f}" if row.get(m) is not None else "-" for m in METRICS),
                    *(_wins(wins.get(str(s), {})) for _, wins in beats))
    console.print(per)
    if summary.get("summary"):
        console.print(f"summary: {summary['summary']}")
