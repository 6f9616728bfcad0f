"""Showing a sweep: coloured heat tables in the terminal (rich) and the PNG files beside sweep.json."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..workspace import Run
from .grid import LABELS, LOWER_IS_BETTER, METRICS
from .pictures import cells_by_setting, colour, heatmap, strip
from .stage import load_cell_images


def heat_table(sweep: dict, metric: str, top_p: float | None = None) -> Table:
    """T rows × top-k columns for one top-p (default: the first), cells coloured like the PNG; best cell marked ★."""
    grid = sweep["grid"]
    p = grid["top_p"][0] if top_p is None else top_p
    cells = cells_by_setting(sweep)
    in_grid = [cells.get((t, k, q)) for t in grid["temperature"] for k in grid["top_k"] for q in grid["top_p"]]
    vals = [c[metric] for c in in_grid if c is not None and c.get(metric) is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    best = (sweep.get("best") or {}).get("key")
    better = "lower" if LOWER_IS_BETTER[metric] else "higher"
    title = f"{LABELS[metric]} ({better} is better)" + (f", top-p {p:g}" if len(grid["top_p"]) > 1 else "")
    table = Table(title=title, title_justify="left")
    table.add_column("T \\ top-k", justify="right")
    for k in grid["top_k"]:
        table.add_column("off" if k == 0 else str(k), justify="center")
    for t in grid["temperature"]:
        row = [f"{t:g}"]
        for k in grid["top_k"]:
            c = cells.get((t, k, p))
            v = None if c is None else c.get(metric)
            r, g, b = colour(v, lo, hi, LOWER_IS_BETTER[metric])
            mark = "★" if c is not None and c.get("key") == best else " "
            text = "   —  " if v is None else f"{mark}{v:.3f} "
            row.append(Text(text, style=f"bold black on rgb({r},{g},{b})"))
        table.add_row(*row)
    return table


def print_sweep(sweep: dict, console: Console | None = None, metrics=METRICS) -> None:
    console = console or Console()
    for p in sweep["grid"]["top_p"]:
        for m in metrics:
            console.print(heat_table(sweep, m, p))
    done = sum(1 for s in sweep["settings"] if s["key"] in sweep["cells"])
    console.print(f"{done}/{len(sweep['settings'])} cells, {sweep['n_generated']} generated vs {sweep['n_reference']} "
                  f"reference images per cell, seed {sweep['seed']}, model step {sweep['step']}")
    b = sweep.get("best")
    if b:
        console.print(f"[bold]best:[/bold] temperature {b['temperature']:g}, top-k {b['top_k']}, top-p {b['top_p']:g} "
                      f"(1-NNA {b['nna']:.3f}, classifier accuracy {b['classifier_accuracy']:.3f}, "
                      f"MMD {b['mmd']:.3f}, COV {b['cov']:.3f}) — rule: {sweep['rule']}")
    for key in ("pictures", "strip"):
        if sweep.get(key):
            console.print(f"{key}: {sweep[key]}")


def write_pictures(run: Run, sweep: dict, digit: int = 0, metrics=METRICS) -> dict:
    """eval/sweep_<metric>.png for each metric and eval/sweep_strip_<digit>.png; returns their paths."""
    out: Path = run.stage_dir("eval")
    paths = {}
    for m in metrics:
        heatmap(sweep, m, out / f"sweep_{m}.png")
        paths[m] = str(out / f"sweep_{m}.png")
    strip_path = strip(sweep, lambda key: load_cell_images(run, key), digit, out / f"sweep_strip_{digit}.png")
    return {"heatmaps": paths, "strip": str(strip_path)}
