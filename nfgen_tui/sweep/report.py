"""Showing a sweep: coloured heat tables in the terminal (rich) and the PNG files beside sweep.json."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..workspace import Run, read_json
from .grid import LABELS, LOWER_IS_BETTER, METRICS, panel_title, panels, table_axes
from .front import front_png, front_text
from .pictures import cells_by_setting, colour, heatmap, strip
from .stage import load_cell_images


def heat_table(sweep: dict, metric: str, panel: tuple | None = None) -> Table:
    """T rows × top-k columns for one (top-p, cfg, schedule) panel (default: the first), cells coloured like the
    PNG; best cell marked ★. A diffusion sweep: DDIM-steps rows × cfg columns per eta panel."""
    grid, axes = sweep["grid"], table_axes(sweep)
    all_panels = panels(sweep)
    panel = all_panels[0] if panel is None else panel
    cells = cells_by_setting(sweep)
    vals = [c[metric] for c in cells.values() if c.get(metric) is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    best = (sweep.get("best") or {}).get("key")
    better = "lower" if LOWER_IS_BETTER[metric] else "higher"
    title = f"{LABELS[metric]} ({better} is better)" + (f", {panel_title(sweep, panel)}" if len(all_panels) > 1 else "")
    table = Table(title=title, title_justify="left")
    table.add_column(axes.corner, justify="right")
    for k in grid[axes.col]:
        table.add_column(axes.col_label(k), justify="center")
    for t in grid[axes.row]:
        row = [f"{t:g}"]
        for k in grid[axes.col]:
            c = cells.get((t, k, *panel))
            v = None if c is None else c.get(metric)
            r, g, b = colour(v, lo, hi, LOWER_IS_BETTER[metric])
            mark = "★" if c is not None and c.get("key") == best else " "
            text = "   —  " if v is None else f"{mark}{v:.3f} "
            row.append(Text(text, style=f"bold black on rgb({r},{g},{b})"))
        table.add_row(*row)
    return table


def print_sweep(sweep: dict, console: Console | None = None, metrics=METRICS, eval_result: dict | None = None) -> None:
    """Heat tables per panel and metric, the best cell, the fidelity–variety front in characters, the file paths."""
    console = console or Console()
    for panel in panels(sweep):
        for m in metrics:
            console.print(heat_table(sweep, m, panel))
    done = sum(1 for s in sweep["settings"] if s["key"] in sweep["cells"])
    console.print(f"{done}/{len(sweep['settings'])} cells, {sweep['n_generated']} generated vs {sweep['n_reference']} "
                  f"reference images per cell, seed {sweep['seed']}, model step {sweep['step']}")
    b = sweep.get("best")
    if b:
        console.print(f"[bold]best:[/bold] {setting_words(b)} (1-NNA {b['nna']:.3f}, classifier accuracy "
                      f"{b['classifier_accuracy']:.3f}, MMD {b['mmd']:.3f}, COV {b['cov']:.3f}) — rule: {sweep['rule']}")
    console.print(front_text(sweep, eval_result), highlight=False, markup=False)
    for key in ("pictures", "strip", "front"):
        if sweep.get(key):
            console.print(f"{key}: {sweep[key]}")


def setting_words(b: dict) -> str:
    """`DDIM steps 50, eta 0, cfg 2`, `temperature 1, top-k 0, top-p 0.9, cfg 2 (linear)`, `temperature 1, head
    steps 50, eta 0, cfg 1.5`: a best cell's setting in words."""
    if "top_k" in b:
        guided = f", cfg {b['cfg']:g} ({b.get('cfg_schedule', 'constant')})" if b.get("cfg", 1.0) != 1.0 else ""
        return f"temperature {b['temperature']:g}, top-k {b['top_k']}, top-p {b['top_p']:g}{guided}"
    temperature = f"temperature {b['temperature']:g}, head " if "temperature" in b else "DDIM "
    return f"{temperature}steps {b['steps']}, eta {b['eta']:g}, cfg {b['cfg']:g}"


def eval_result_of(run: Run) -> dict | None:
    """The eval stage's metrics.json (the reference points of the front), or None before `nfgen eval`."""
    path = run.stage_dir("eval") / "metrics.json"
    return read_json(path) if path.exists() else None


def write_pictures(run: Run, sweep: dict, digit: int = 0, metrics=METRICS) -> dict:
    """eval/sweep_<metric>.png for each metric, eval/sweep_strip_<digit>.png and eval/sweep_front.png; their paths."""
    out: Path = run.stage_dir("eval")
    paths = {}
    for m in metrics:
        heatmap(sweep, m, out / f"sweep_{m}.png")
        paths[m] = str(out / f"sweep_{m}.png")
    strip_path = strip(sweep, lambda key: load_cell_images(run, key), digit, out / f"sweep_strip_{digit}.png")
    front_png(sweep, eval_result_of(run), out / "sweep_front.png")
    return {"heatmaps": paths, "strip": str(strip_path), "front": str(out / "sweep_front.png")}
