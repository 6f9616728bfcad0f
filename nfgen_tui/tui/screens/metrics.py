"""Metrics: a run's `eval/metrics.json` as tables (overall with baselines and the reference row, per class), two
runs side by side, and the run's inference sweep (`eval/sweep.json`) as a heat table.

The sweep panel follows the first run: a timer starts a thread worker that probes the sweep lock, tails the events
log for `sweep` progress and re-reads sweep.json when it changed, so a sweep started here, in a shell or by an
earlier session of the app shows its progress the same way.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Select, Static

from ... import jobs
from ...errors import UserError
from ..widgets.sweep_panel import SweepPanel
from .base import BaseScreen

# every generator's own default grid (the GPT: 4 temperatures × 5 top-k; the denoiser: cfg 1, 1.5, 2, 3 when trained
# with the null class, × sample.steps), 20 per class; other grids are the CLI's (`nfgen sweep RUN --steps 10,25,50`)
SWEEP_ARGS = ["--n-per-class", "20"]

# (key, column title); ↓ lower is better, ↑ higher is better, 1-NNA is best at 0.5
COLUMNS = [("mmd", "MMD ↓"), ("cov", "COV ↑"), ("nna", "1-NNA →0.5"), ("classifier_accuracy", "classifier ↑"),
           ("memorization_rate", "memorized ↓"), ("n_generated", "n gen"), ("n_reference", "n ref")]
CLASS_COLUMNS = [("mmd", "MMD"), ("cov", "COV"), ("nna", "1-NNA"), ("classifier_accuracy", "acc")]
# "Autoregressive Generation of Neural Field Weights" (all conditioning tokens, T = 0.8, top-k = 3)
REFERENCE = {"mmd": 0.2162, "cov": 0.2773, "nna": 0.84}


def overall(m: dict) -> dict:
    return m.get("overall", m) if isinstance(m.get("overall"), dict) else m


def baselines(m: dict) -> dict[str, dict]:
    b = m.get("baselines") or overall(m).get("baselines") or {}
    return {str(k): v for k, v in b.items() if isinstance(v, dict)}


def per_class(m: dict) -> dict[str, dict]:
    """Per-class figures keyed by class name, from a dict (class → figures) or a list of records."""
    pc = m.get("per_class") or m.get("classes") or {}
    if isinstance(pc, list):
        out = {}
        for i, rec in enumerate(pc):
            if isinstance(rec, dict):
                out[str(rec.get("class", rec.get("digit", rec.get("label", i))))] = rec
        return out
    return {str(k): v for k, v in pc.items() if isinstance(v, dict)} if isinstance(pc, dict) else {}


def cell(v) -> Text:
    if isinstance(v, bool) or v is None:
        return Text("–", style="dim", justify="right")
    if isinstance(v, int):
        return Text(f"{v:,}", justify="right")
    if isinstance(v, float):
        return Text(f"{v:.4f}", justify="right")
    return Text(str(v))


def read_metrics(run) -> dict | None:
    try:
        return json.loads((run.stage_dir("eval") / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


class MetricsScreen(BaseScreen):
    BINDINGS = [Binding("c", "focus_compare", "Compare"), Binding("ctrl+r", "reload", "Reload", show=False),
                Binding("s", "sweep", "Sweep"), Binding("v", "next_metric", "Metric"),
                Binding("h", "focus_sweep", "Heat table", show=False),
                Binding("f", "sweep_front", "Front", show=False)]

    def body(self) -> ComposeResult:
        with Vertical(id="met"):
            with Horizontal(id="met-pick"):
                yield Label("run")
                yield Select([], id="met-a", prompt="pick a run with metrics")
                yield Label("compare with")
                yield Select([], id="met-b", prompt="—")
            yield Static("Overall (each set vs the reference set of rendered training fields; baselines below each run)", classes="panel-title")
            yield DataTable(id="met-overall", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="met-bottom"):
                with Vertical(id="met-class-box"):
                    yield Static("Per class", classes="panel-title")
                    yield DataTable(id="met-class", cursor_type="row", zebra_stripes=True)
                yield SweepPanel(id="met-sweep")
            yield Static("", id="met-note", classes="hint")

    def on_mount(self) -> None:
        self.metrics: dict[str, dict] = {}
        self.runs: list[str] = []
        self.sweep_of: str | None = None  # the run the sweep panel shows
        self.sweep_offset, self.sweep_stamp = 0, None
        self.query_one("#met-sweep").display = False
        self.action_reload()
        self.set_interval(self.app.poll_s, self.poll_sweep)

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    def action_focus_compare(self) -> None:
        self.query_one("#met-b", Select).focus()

    @work(thread=True, exclusive=True, group="met-load")
    def load(self) -> None:
        from ...sweep.stage import sweep_path  # here, not at import: nfgen_tui.sweep imports torch

        found, names = {}, []
        for run in self.workspace.runs():
            m = read_metrics(run)
            if m is not None:
                found[run.name] = m
            if m is not None or sweep_path(run).exists() or run.is_done("train"):
                names.append(run.name)  # a trained run can be swept before it has metrics
        self.post(self._loaded, found, names)

    def _loaded(self, found: dict[str, dict], names: list[str]) -> None:
        self.metrics, self.runs = found, names
        with_metrics = [n for n in names if n in found]
        a, b = self.query_one("#met-a", Select), self.query_one("#met-b", Select)
        keep_a = a.value if a.value in names else (with_metrics or names or [None])[-1]
        keep_b = b.value if b.value in names else None
        with self.prevent(Select.Changed):
            a.set_options([(n, n) for n in names])
            b.set_options([(n, n) for n in names])
            if keep_a is not None:
                a.value = keep_a
            if keep_b is not None:
                b.value = keep_b
        self.render_tables()
        self.poll_sweep()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id in ("sweep-metric", "sweep-topp"):
            self.query_one("#met-sweep", SweepPanel).render_table()
            return
        self.render_tables()
        if event.select.id == "met-a":
            self.poll_sweep()

    def _chosen(self) -> list[str]:
        out = []
        for sid in ("#met-a", "#met-b"):
            v = self.query_one(sid, Select).value
            if isinstance(v, str) and v in self.metrics and v not in out:
                out.append(v)
        return out

    def render_tables(self) -> None:
        runs = self._chosen()
        ot = self.query_one("#met-overall", DataTable)
        ot.clear(columns=True)
        # explicit widths: auto widths measured while rows arrive came out differently from run to run
        labels = ["reference (talk)"] + [n for n in runs] + [f"  {b}" for n in runs for b in baselines(self.metrics[n])]
        ot.add_column("", key="row", width=max(len(x) for x in labels))
        for key, title in COLUMNS:
            ot.add_column(Text(title, justify="right"), key=key, width=max(len(title), 8))
        for name in runs:
            m = self.metrics[name]
            ov = overall(m)
            ot.add_row(Text(name, style="bold"), *[cell(ov.get(k)) for k, _ in COLUMNS])
            for bname, b in baselines(m).items():
                ot.add_row(Text(f"  {bname}", style="italic"), *[cell(b.get(k)) for k, _ in COLUMNS])
        pubs = [self.metrics[n].get("reference_published") for n in runs]
        published = next((p for p in pubs if isinstance(p, dict)), None) or next(  # a 3D run lists its rows
            (p[0] for p in pubs if isinstance(p, list) and p and isinstance(p[0], dict)), REFERENCE)
        ot.add_row(Text("reference (talk)", style="dim"), *[cell(published.get(k)) for k, _ in COLUMNS])

        ct = self.query_one("#met-class", DataTable)
        ct.clear(columns=True)
        ct.add_column("class", key="class", width=8)
        for name in runs:
            for key, title in CLASS_COLUMNS:
                label = f"{name} {title}" if len(runs) > 1 else title
                ct.add_column(Text(label, justify="right"), key=f"{name}.{key}", width=max(len(label), 8))
        tables = {name: per_class(self.metrics[name]) for name in runs}
        classes = sorted({c for t in tables.values() for c in t}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        for c in classes:
            ct.add_row(c, *[cell(tables[n].get(c, {}).get(k)) for n in runs for k, _ in CLASS_COLUMNS])

        note = self.query_one("#met-note", Static)
        if not runs:
            a = self.query_one("#met-a", Select).value
            note.update(f"{a} has no metrics yet: run eval (Runs screen: e); s sweeps its sampling settings."
                        if isinstance(a, str) else
                        "No run has metrics yet: run eval (Runs screen: e, or p for the whole pipeline).")
        else:
            m = self.metrics[runs[0]]
            bits = [f"{k} {m[k]}" for k in ("ssim", "set_size", "seed", "device") if k in m]
            clf = m.get("classifier")
            if isinstance(clf, dict) and isinstance(clf.get("accuracy"), (int, float)):
                bits.append(f"classifier {clf['accuracy']:.3f} on real held-out digits")
            ref = m.get("reference_published")
            ref = ref[0] if isinstance(ref, list) and ref else ref
            if isinstance(ref, dict) and ref.get("note"):
                bits.append(f"reference: {ref['note']}")
            note.update("  ·  ".join([f"eval/metrics.json of {', '.join(runs)}", *bits]))

    # the sweep ---------------------------------------------------------------------------------------------------
    def _sweep_run_name(self) -> str | None:
        v = self.query_one("#met-a", Select).value
        return v if isinstance(v, str) else None

    def poll_sweep(self) -> None:
        name = self._sweep_run_name()
        if name != self.sweep_of:  # another run: read its sweep and events from the start
            self.sweep_of, self.sweep_offset, self.sweep_stamp = name, 0, None
            panel = self.query_one("#met-sweep", SweepPanel)
            panel.show(None)
            panel.last_event = None
            panel.progress(None)
            panel.display = False
        if name is not None:
            self.read_sweep(name, self.sweep_offset, self.sweep_stamp)

    @work(thread=True, exclusive=True, group="met-sweep")
    def read_sweep(self, name: str, offset: int, stamp) -> None:
        from ...sweep.report import eval_result_of  # here, not at import: nfgen_tui.sweep imports torch
        from ...sweep.stage import load_sweep, sweep_path

        run = self.workspace.run(name)
        job = jobs.job_status(run)
        job_sweeping = job is not None and job["state"] == "running" and job.get("stage") == "sweep"
        running = run.lock("sweep").held_elsewhere() or job_sweeping
        events, offset = run.events("sweep", offset)
        since = float(job.get("started", 0)) - 1 if job_sweeping else 0.0
        progress = [e for e in events if "step" in e and "total" in e and e.get("t", 0) >= since]
        path = sweep_path(run)
        try:
            st = path.stat()
            new_stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            new_stamp = None
        sweep, changed, evaluated = None, new_stamp != stamp, None
        if changed and new_stamp is not None:
            try:
                sweep, evaluated = load_sweep(run), eval_result_of(run)
            except (OSError, ValueError) as e:
                self.post(self.error, e)
                changed = False
        self.post(self._sweep_read, name, offset, new_stamp if changed else stamp, changed, sweep, running,
                  progress[-1] if progress else None, evaluated)

    def _sweep_read(self, name, offset, stamp, changed, sweep, running, last, evaluated=None) -> None:
        if name != self.sweep_of:
            return  # the run changed while reading
        panel = self.query_one("#met-sweep", SweepPanel)
        if last is not None:
            panel.last_event = last
        self.sweep_offset, self.sweep_stamp = offset, stamp
        if changed:
            panel.show(sweep, evaluated)
        panel.progress((panel.last_event or {}) if running else None)
        panel.display = panel.sweep is not None or running

    def action_focus_sweep(self) -> None:
        self.query_one("#sweep-table", DataTable).focus()

    def action_sweep_front(self) -> None:
        self.query_one("#met-sweep", SweepPanel).toggle_front()

    def action_next_metric(self) -> None:
        self.query_one("#met-sweep", SweepPanel).next_metric()

    def action_sweep(self) -> None:
        """Start `nfgen sweep` of the first run as a background job (4 temperatures × 5 top-k, 20 per class)."""
        try:
            name = self._sweep_run_name()
            if name is None:
                raise UserError("pick a run first (a sweep needs a trained model)")
            run = self.workspace.run(name).require()
            if run.lock("sweep").held_elsewhere():
                self.notify(f"{name}: a sweep is already running", severity="warning")
                return
            if not run.is_done("train"):
                raise UserError(f"{name} has no trained model yet: train it on the Runs screen (r, then p)")
            job = jobs.start_job(run, ["sweep", run.name, *SWEEP_ARGS])
        except UserError as e:
            self.error(e)
            return
        self.notify(f"{name}: sweep started (pid {job['pid']}); it keeps running if you quit")
        self.poll_sweep()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        if event.data_table.id == "sweep-table":
            self.open_cell(self.query_one("#met-sweep", SweepPanel).cell_at(*event.coordinate))

    def action_open_cell(self) -> None:
        self.open_cell(self.query_one("#met-sweep", SweepPanel).selected_cell())

    def open_cell(self, cell: dict | None) -> None:
        """Generate, with the run and the cell's setting (its generator's sweep axes) filled in."""
        name = self.sweep_of
        if cell is None or name is None:
            self.notify("no sweep cell there: move to a scored cell first", severity="warning")
            return

        async def go() -> None:
            await self.app.switch_mode("generate")
            self.app.screen.use_setting(name, cell)

        self.app.run_worker(go(), group="open-cell")
