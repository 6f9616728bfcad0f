"""A run's inference sweep (eval/sweep.json) as a heat table you can move through: one metric at a time, the best
cell marked ★, a progress bar while a sweep job runs; `f` swaps the table for the fidelity–variety front (classifier
accuracy against 1-NNA of every cell, the Pareto front in upper case, the eval's baselines and default sample as # % + @).

A DataTable rather than the rich Table `sweep.report.heat_table` prints: the cursor picks a cell (enter opens
Generate with its setting). Colours and the ★ come from the same `pictures.colour` and `best` entry, so the terminal
table and the PNG agree. `nfgen_tui.sweep` is imported on first use: its package imports the stage, and with it torch
(a second at app start; the app warms it up in a thread instead).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, ProgressBar, Select, Static


TITLE_GPT = "Sweep: T rows × top-k columns · h, enter: Generate"
TITLE_DIFFUSION = "Sweep: DDIM steps rows × cfg columns · h, enter: Generate"


def k_label(k: int) -> str:
    return "off" if k == 0 else str(k)


def heat_rows(sweep: dict, metric: str, panel) -> tuple[list[str], list[tuple[float, list[Text]]], dict]:
    """(column titles, rows of (temperature, cell texts), (row, col) → cell record) for one panel: a (top-p, cfg,
    schedule) of `sweep.grid.panels`, or a bare top-p (unguided cells). A diffusion sweep: rows of DDIM steps,
    columns of cfg, a panel per (eta,).

    The colour range spans every cell of the grid (all panels), like the PNG heat maps."""
    from ...sweep.grid import LOWER_IS_BETTER, table_axes
    from ...sweep.pictures import cells_by_setting, colour

    grid, axes = sweep["grid"], table_axes(sweep)
    if not isinstance(panel, tuple):
        panel = (panel, *(axes.defaults.get(f) for f in axes.panel[1:]))  # a GPT's bare top-p
    cells = cells_by_setting(sweep)
    vals = [c[metric] for c in cells.values() if c.get(metric) is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    best = (sweep.get("best") or {}).get("key")
    rows, at = [], {}
    for ri, t in enumerate(grid[axes.row]):
        texts = []
        for ci, k in enumerate(grid[axes.col]):
            c = cells.get((t, k, *panel))
            v = None if c is None else c.get(metric)
            if c is not None:
                at[(ri, ci)] = c
            if v is None:
                texts.append(Text("  —  ", style="dim", justify="center"))
                continue
            r, g, b = colour(v, lo, hi, LOWER_IS_BETTER[metric])
            is_best = c.get("key") == best
            style = f"bold black on rgb({r},{g},{b})" + (" underline" if is_best else "")
            texts.append(Text(f"{'★' if is_best else ' '}{v:.3f}", style=style, justify="center"))
        rows.append((t, texts))
    return [axes.col_label(k) for k in grid[axes.col]], rows, at


def summary(sweep: dict) -> str:
    done = sum(1 for s in sweep.get("settings", []) if s.get("key") in sweep.get("cells", {}))
    bits = [f"{done}/{len(sweep.get('settings', []))} cells" + ("" if sweep.get("complete") else " (unfinished)"),
            f"{sweep.get('n_generated', '?')} vs {sweep.get('n_reference', '?')} images per cell"]
    b = sweep.get("best")
    line = "  ·  ".join(bits)
    if b and "steps" in b:
        line += (f"\n[b]★ best[/b]: {b['steps']} DDIM steps, eta {b['eta']:g}, cfg {b['cfg']:g} "
                 f"(1-NNA {b['nna']:.3f}, acc {b['classifier_accuracy']:.3f})\nrule: {sweep.get('rule', '')}")
    elif b:
        guided = f", cfg {b['cfg']:g}" if b.get("cfg", 1.0) != 1.0 else ""
        line += (f"\n[b]★ best[/b]: T {b['temperature']:g}, top-k {k_label(b['top_k'])}, top-p {b['top_p']:g}{guided} "
                 f"(1-NNA {b['nna']:.3f}, acc {b['classifier_accuracy']:.3f})\nrule: {sweep.get('rule', '')}")
    return line


class SweepPanel(Vertical):
    """Shows what `show` is given; the Metrics screen reads the files (in a worker) and handles the keys."""

    def compose(self) -> ComposeResult:
        from ...sweep.grid import LABELS, METRICS

        yield Static(TITLE_GPT, classes="panel-title", id="sweep-title")
        with Horizontal(id="sweep-pick"):
            yield Label("metric")
            yield Select([(LABELS[m], m) for m in METRICS], value="nna", allow_blank=False, id="sweep-metric",
                         compact=True)
            yield Label("panel", id="sweep-topp-label")
            yield Select([("top-p 1", 0)], value=0, id="sweep-topp", allow_blank=False, compact=True)
        yield DataTable(id="sweep-table", cursor_type="cell")
        yield Static("", id="sweep-front")
        with Horizontal(id="sweep-run"):
            yield ProgressBar(total=1, id="sweep-progress", show_eta=False)
            yield Static("", id="sweep-job", classes="hint")
        yield Static("", id="sweep-status", classes="hint")

    def on_mount(self) -> None:
        self.sweep: dict | None = None
        self.at: dict = {}
        self.last_event: dict | None = None  # the latest sweep progress event read (the screen tails the log)
        self.eval_result: dict | None = None  # the run's eval/metrics.json: the front's reference points
        self.front = False
        self.query_one("#sweep-run").display = False
        self.query_one("#sweep-front").display = False
        for w in ("#sweep-topp", "#sweep-topp-label"):
            self.query_one(w).display = False

    @property
    def metric(self) -> str:
        v = self.query_one("#sweep-metric", Select).value
        return v if isinstance(v, str) else "nna"

    @property
    def top_p(self) -> tuple | None:
        """The shown panel: (top-p, cfg, schedule)."""
        if not self.sweep:
            return None
        from ...sweep.grid import panels

        v = self.query_one("#sweep-topp", Select).value
        ps = panels(self.sweep)
        return ps[v] if isinstance(v, int) and 0 <= v < len(ps) else ps[0]

    def next_metric(self) -> None:
        from ...sweep.grid import METRICS

        sel = self.query_one("#sweep-metric", Select)
        sel.value = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]

    def toggle_front(self) -> None:
        """Heat table ⇄ fidelity–variety front."""
        self.front = not self.front
        self.render_table()

    def show(self, sweep: dict | None, eval_result: dict | None = None) -> None:
        """A new sweep record (or None); keeps the metric, top-p panel and cursor where they were."""
        first = self.sweep is None
        self.sweep = sweep
        self.eval_result = eval_result
        if sweep is not None:
            from ...sweep.grid import panel_title, panels

            ps = panels(sweep)
            sel = self.query_one("#sweep-topp", Select)
            keep = sel.value if isinstance(sel.value, int) and sel.value < len(ps) else 0
            with self.prevent(Select.Changed):
                sel.set_options([(panel_title(sweep, p), i) for i, p in enumerate(ps)])
                sel.value = keep
            for w in ("#sweep-topp", "#sweep-topp-label"):
                self.query_one(w).display = len(ps) > 1
            self.query_one("#sweep-title", Static).update(TITLE_DIFFUSION if "steps" in sweep["grid"] else TITLE_GPT)
        self.render_table(to_best=first)

    def render_table(self, to_best: bool = False) -> None:
        table = self.query_one("#sweep-table", DataTable)
        front = self.query_one("#sweep-front", Static)
        table.display, front.display = not self.front, self.front
        if self.front and self.sweep is not None:
            from rich.text import Text as _Text

            from ...sweep.front import front_text

            front.update(_Text(front_text(self.sweep, self.eval_result)))
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        self.at = {}
        if self.sweep is None:
            self.query_one("#sweep-status", Static).update("")
            return
        from ...sweep.grid import LABELS, LOWER_IS_BETTER

        from ...sweep.grid import table_axes

        axes = table_axes(self.sweep)
        titles, rows, self.at = heat_rows(self.sweep, self.metric, self.top_p)
        table.add_column(axes.corner, key="t", width=9)
        for title, k in zip(titles, self.sweep["grid"][axes.col]):
            table.add_column(Text(title, justify="center"), key=f"k{k}", width=7)
        for t, texts in rows:
            table.add_row(Text(f"{t:g}", justify="right"), *texts, key=f"{t:g}")
        best = (self.sweep.get("best") or {}).get("key")
        where = next(((r, c + 1) for (r, c), cell in self.at.items() if cell.get("key") == best), None)
        if to_best and where is not None:
            table.move_cursor(row=where[0], column=where[1])
        else:
            table.move_cursor(row=cursor.row, column=max(cursor.column, 1))
        better = "lower" if LOWER_IS_BETTER[self.metric] else "higher"
        status = self.query_one("#sweep-status", Static)
        status.update(f"{LABELS[self.metric]}: {better} is better (green)  ·  ★ the chosen setting\n"
                      f"{summary(self.sweep)}")

    def cell_at(self, row: int, column: int) -> dict | None:
        """The cell record under table coordinate (row, column); column 0 holds the temperatures."""
        return self.at.get((row, column - 1))

    def selected_cell(self) -> dict | None:
        c = self.query_one("#sweep-table", DataTable).cursor_coordinate
        return self.cell_at(c.row, c.column)

    def progress(self, running: dict | None) -> None:
        """`running`: the latest sweep progress event (step, total, cell) of a running sweep, or {} before the
        first one; None when no sweep runs."""
        self.query_one("#sweep-run").display = running is not None
        if running is not None:
            total, step = running.get("total"), running.get("step") or 0
            self.query_one("#sweep-progress", ProgressBar).update(total=total or None, progress=step)
            what = f"{step}/{total} done · {running['cell']}" if running.get("cell") else "sweep starting…"
            self.query_one("#sweep-job", Static).update(what)
