"""Metrics: a run's `eval/metrics.json` as tables (overall with baselines and the reference row, per class), and
two runs side by side."""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Select, Static

from .base import BaseScreen

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
    BINDINGS = [Binding("c", "focus_compare", "Compare with"), Binding("ctrl+r", "reload", "Reload")]

    def body(self) -> ComposeResult:
        with Vertical(id="met"):
            with Horizontal(id="met-pick"):
                yield Label("run")
                yield Select([], id="met-a", prompt="pick a run with metrics")
                yield Label("compare with")
                yield Select([], id="met-b", prompt="—")
            yield Static("Overall (each set vs the reference set of rendered training fields; baselines below each run)", classes="panel-title")
            yield DataTable(id="met-overall", cursor_type="row", zebra_stripes=True)
            yield Static("Per class", classes="panel-title")
            yield DataTable(id="met-class", cursor_type="row", zebra_stripes=True)
            yield Static("", id="met-note", classes="hint")

    def on_mount(self) -> None:
        self.metrics: dict[str, dict] = {}
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    def action_focus_compare(self) -> None:
        self.query_one("#met-b", Select).focus()

    @work(thread=True, exclusive=True, group="met-load")
    def load(self) -> None:
        found = {}
        for run in self.workspace.runs():
            m = read_metrics(run)
            if m is not None:
                found[run.name] = m
        self.post(self._loaded, found)

    def _loaded(self, found: dict[str, dict]) -> None:
        self.metrics = found
        names = list(found)
        a, b = self.query_one("#met-a", Select), self.query_one("#met-b", Select)
        keep_a = a.value if a.value in names else (names[-1] if names else None)
        keep_b = b.value if b.value in names else None
        with self.prevent(Select.Changed):
            a.set_options([(n, n) for n in names])
            b.set_options([(n, n) for n in names])
            if keep_a is not None:
                a.value = keep_a
            if keep_b is not None:
                b.value = keep_b
        self.render_tables()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.render_tables()

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
        published = next((self.metrics[n]["reference_published"] for n in runs
                          if isinstance(self.metrics[n].get("reference_published"), dict)), REFERENCE)
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
            note.update("No run has metrics yet: run eval (Runs screen: e, or p for the whole pipeline).")
        else:
            m = self.metrics[runs[0]]
            bits = [f"{k} {m[k]}" for k in ("ssim", "set_size", "seed", "device") if k in m]
            clf = m.get("classifier")
            if isinstance(clf, dict) and isinstance(clf.get("accuracy"), (int, float)):
                bits.append(f"classifier {clf['accuracy']:.3f} on real held-out digits")
            ref = m.get("reference_published")
            if isinstance(ref, dict) and ref.get("note"):
                bits.append(f"reference: {ref['note']}")
            note.update("  ·  ".join([f"eval/metrics.json of {', '.join(runs)}", *bits]))
