"""Runs: stage states, start/cancel jobs, a live loss panel and the tail of the job log.

Everything shown here is read from the run folders by a thread worker on a timer (the UI thread never touches
the disk), so a job started by an earlier session of the app — or by `nfgen` in a shell — shows up the same way.
The events log is tailed from a byte offset: each refresh reads only the lines written since the last one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Log, Static
from textual.widgets.data_table import ColumnKey

from ... import jobs
from ...errors import UserError
from ...model.generator import declared
from ...workspace import STAGE_ORDER
from ..curves import Curves
from ..widgets.loss_plot import LossPlot
from .base import BaseScreen
from .new_run import NewRunScreen

STATE_STYLE = {"done": ("✓", "bold green"), "running": ("▶", "bold yellow"), "failed": ("✗", "bold red"),
               "interrupted": ("‖", "bold magenta"), "not started": ("·", "dim")}
LEGEND = "[green]✓[/] done  [yellow]▶[/] running  [red]✗[/] failed  [magenta]‖[/] interrupted  · not started"
JOB_STYLE = {"running": "bold yellow", "done": "green", "failed": "red", "cancelled": "magenta",
             "interrupted": "magenta"}
LOG_LINES = 200


@dataclass
class Snapshot:
    """What one poll read from disk."""

    rows: list[tuple[str, dict, dict | None]] = field(default_factory=list)  # (run, states, job)
    run: str | None = None
    events: list[dict] = field(default_factory=list)
    offset: int = 0
    start_offset: int = 0
    log: str | None = None  # None: unchanged since last time
    log_size: int = 0
    info: str = ""


def state_cell(state: str) -> Text:
    label, style = STATE_STYLE.get(state, (state, ""))
    return Text(label, style=style)


def job_cell(job: dict | None) -> Text:
    if job is None:
        return Text("")
    return Text(f"{job.get('stage', '?')} {job['state']}", style=JOB_STYLE.get(job["state"], ""))


def run_info(run) -> str:
    try:
        c = run.config()
    except UserError as e:
        return str(e)
    return (f"[b]{run.name}[/b]  {c.data.dataset}"
            f"{f' (limit {c.data.limit})' if c.data.limit else ''}  ·  fields {c.fields.arch} {c.fields.hidden} "
            f"{c.fields.steps} steps{f' in a {c.fields.subspace}-dim subspace' if c.fields.subspace else ''}  ·  "
            f"{declared(c.model.kind).describe(c)}  ·  device {c.device}")


# The one stage table of the TUI: the key that starts each stage as a job (bindings, hint line, command palette).
STAGE_KEYS = dict(zip(STAGE_ORDER, ("f", "b", "t", "s", "e"), strict=True))
NARROW_BELOW = 100  # terminal columns under which the stage columns are titled by their keys
KEYS_HINT = ("start a job: " + " · ".join(f"[b]{key}[/b] {stage}" for stage, key in STAGE_KEYS.items())
             + " · [b]p[/b] all remaining · [b]x[/b] cancel")


class RunsScreen(BaseScreen):
    BINDINGS = [
        Binding("n", "new_run", "New"),
        Binding("p", "start('pipeline')", "Pipeline"),
        *(Binding(key, f"start('{stage}')", stage.capitalize(), show=False) for stage, key in STAGE_KEYS.items()),
        Binding("x", "cancel", "Cancel"),
    ]

    def body(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="runs-left"):
                yield Static("Runs", classes="panel-title")
                yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
                yield Static(LEGEND, id="runs-legend", classes="hint")
                yield Static("", id="run-info", classes="hint")
                yield Static(KEYS_HINT, id="runs-keys", classes="hint")
            with Vertical(id="runs-right"):
                yield Static("Loss", classes="panel-title")
                yield LossPlot(id="loss")
                yield Static("Job log", classes="panel-title")
                yield Log(id="job-log", max_lines=LOG_LINES, auto_scroll=True)

    def on_mount(self) -> None:
        self.narrow: bool | None = None
        self._set_columns(self.app.size.width)
        self.selected: str | None = None
        self.curves = Curves()
        self.events_offset = 0
        self.log_bytes = -1
        self.poll()
        self.set_interval(self.app.poll_s, self.poll)

    def _set_columns(self, width: int) -> None:
        """Stage columns titled by name, or on a narrow terminal (an 80-column SSH window) by the key that starts
        the stage (the hint below spells them out), so the job column still fits beside them."""
        narrow = width < NARROW_BELOW
        if narrow == self.narrow:
            return
        self.narrow = narrow
        t = self.query_one("#runs-table", DataTable)
        t.clear(columns=True)
        t.add_column("run", key="run")
        for s in STAGE_ORDER:
            t.add_column(STAGE_KEYS[s] if narrow else s, key=s)
        t.add_column("job", key="job")

    def on_resize(self, event) -> None:
        was = self.narrow
        self._set_columns(event.size.width)
        if self.narrow != was:
            self.poll()  # the rows went with the columns

    # polling ---------------------------------------------------------------------------------------------------
    def poll(self) -> None:
        self._read(self.selected, self.events_offset, self.log_bytes)

    @work(thread=True, exclusive=True, group="runs-poll")
    def _read(self, selected: str | None, offset: int, log_size: int) -> None:
        ws = self.workspace
        snap = Snapshot(run=selected, start_offset=offset, offset=offset, log_size=log_size)
        for run in ws.runs():
            snap.rows.append((run.name, run.states(), jobs.job_status(run)))
        names = [r[0] for r in snap.rows]
        if selected not in names:  # first look (or the run is gone): the one with a running job, else the first
            running = [name for name, _, job in snap.rows if job is not None and job["state"] == "running"]
            selected = running[0] if running else (names[0] if names else None)
            snap.run, snap.start_offset, snap.offset, snap.log_size = selected, 0, 0, -1
        if selected is not None:
            run = ws.run(selected)
            snap.events, snap.offset = run.events(None, snap.start_offset)
            size = jobs.log_path(run).stat().st_size if jobs.log_path(run).exists() else 0
            if size != snap.log_size:
                snap.log = jobs.read_log(run)
                snap.log_size = size
            snap.info = run_info(run)
            job = next((j for name, _, j in snap.rows if name == selected), None)
            if job is not None:
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(job.get("started", 0))))
                snap.info += (f"\n\nlast job: [b]{' '.join(job.get('args', [job.get('stage', '?')]))}[/b] — "
                              f"{job['state']} (pid {job.get('pid')}, started {when})")
        self.post(self._apply, snap)

    def _apply(self, snap: Snapshot) -> None:
        names = [r[0] for r in snap.rows]
        stale = False
        if snap.run != self.selected:
            if self.selected in names or snap.start_offset != 0:
                stale = True  # the selection changed while reading: the next poll reads the new run
            else:  # nothing (or a deleted run) was selected: adopt the worker's pick
                self.selected, self.curves, self.log_bytes = snap.run, Curves(), -1
                self.query_one("#job-log", Log).clear()
        elif snap.start_offset != self.events_offset:
            stale = True
        self._fill_table(snap.rows)
        if stale:
            return
        self.events_offset = snap.offset
        if self.curves.add(snap.events) or snap.start_offset == 0:
            stage = self.curves.latest
            self.query_one("#loss", LossPlot).show(self.curves.by_stage.get(stage) if stage else None)
        if snap.log is not None:
            self.log_bytes = snap.log_size
            log = self.query_one("#job-log", Log)
            log.clear()
            lines = snap.log.replace("\r", "\n").splitlines()[-LOG_LINES:]
            log.write_lines(lines or ["(no job started for this run yet)"])
        info = self.query_one("#run-info", Static)
        if snap.run is None:
            info.update("No runs yet. Press [b]n[/b] to create one (the quick preset trains on 2 CPU cores in "
                        "minutes), then [b]p[/b] to run the whole pipeline as a background job.")
        else:
            info.update(snap.info)

    def _fill_table(self, rows) -> None:
        t = self.query_one("#runs-table", DataTable)
        names = [r[0] for r in rows]
        current = [str(k.value) for k in t.rows]
        if names != current:
            cursor = t.cursor_row
            t.clear()
            # the run column's width follows the names now, not on the table's next idle (a repaint in between
            # would show the header's width)
            run_col = t.columns[ColumnKey("run")]
            run_col.auto_width, run_col.width = False, max([3, *map(len, names)])
            for name, states, job in rows:
                t.add_row(name, *[state_cell(states[s]) for s in STAGE_ORDER], job_cell(job), key=name)
            if rows:
                want = names.index(self.selected) if self.selected in names else min(max(cursor, 0), len(rows) - 1)
                t.move_cursor(row=want)
            return
        for name, states, job in rows:
            for s in STAGE_ORDER:
                t.update_cell(name, s, state_cell(states[s]))
            t.update_cell(name, "job", job_cell(job), update_width=True)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is None or event.row_key.value == self.selected:
            return
        self.selected = str(event.row_key.value)
        self.app.current_run = self.selected
        self.app.highlights += 1
        self.events_offset, self.log_bytes = 0, -1
        self.curves = Curves()
        self.query_one("#loss", LossPlot).show(None)
        self.query_one("#job-log", Log).clear()
        self.poll()

    # actions ---------------------------------------------------------------------------------------------------
    def _run(self):
        if self.selected is None:
            raise UserError("no run selected — press n to create one")
        return self.workspace.run(self.selected).require()

    def action_new_run(self) -> None:
        def created(name: str | None) -> None:
            if name:
                self.notify(f"created run {name}; press p to run the whole pipeline")
                self.selected, self.events_offset, self.log_bytes = name, 0, -1
                self.curves = Curves()
                self.poll()

        self.app.push_screen(NewRunScreen(), created)

    def action_start(self, stage: str) -> None:
        try:
            run = self._run()
            job = jobs.start_job(run, [stage, run.name])
        except UserError as e:
            self.error(e)
            return
        self.notify(f"{run.name}: started {stage} (pid {job['pid']}); it keeps running if you quit")
        self.poll()

    def action_cancel(self) -> None:
        try:
            run = self._run()
        except UserError as e:
            self.error(e)
            return
        if jobs.cancel_job(run):
            self.notify(f"{run.name}: cancelling — the stage checkpoints and stops")
        else:
            self.notify(f"{run.name}: no running job", severity="warning")
        self.poll()
