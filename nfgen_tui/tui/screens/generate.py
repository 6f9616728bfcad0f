"""Generate: sample digits (or shapes) from a trained run with chosen settings, shown as a terminal image grid.

The class picker offers the run's own classes (`generator.class_names`: as many as its generator samples, named by
its dataset), so a `shapes` run offers box, torus… instead of digits. A 3D run's sample shows one shaded view of
every generated shape (its `views.npy`); ← / → turn them all to the next view.

`run_sample` runs in a thread worker (torch releases the GIL in its kernels, so even a 12-layer model sampling on
CPU leaves the screen responsive); its progress callback reaches the progress bar through `call_from_thread`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static

from ... import modality
from ...errors import UserError
from ...model.generator import GENERATORS, SEED, SIZE, SampleSetting, class_names, declared, run_sample
from ..images import fit_grid, grid_image
from ..widgets.digit_grid import DigitGrid
from .base import BaseScreen, display_path


def form_settings() -> list[SampleSetting]:
    """Every generator's form inputs in one column: each generator's own order kept, a setting they share shown
    once (the GPT: temperature, top-k, top-p, cfg, count, seed, size; the denoiser: steps, eta, cfg, count…)."""
    out: list[SampleSetting] = []
    for g in GENERATORS.values():
        own = [s for s in g.settings if s.label]
        for i, s in enumerate(own):
            if s not in out:
                after = next((t for t in own[i + 1:] if t in out), None)
                out.insert(out.index(after) if after is not None else len(out), s)
    return out


FIELDS = form_settings()


def latest_sample(run_dir: Path) -> Path | None:
    metas = sorted((run_dir / "samples").glob("*/meta.json"), key=lambda p: (p.stat().st_mtime, str(p)))
    return metas[-1].parent if metas else None


def load_sample(folder: Path, view: int = 0) -> tuple[np.ndarray, dict]:
    """The sample's pictures [N, H, W] in [0, 1]: its images, or for a 3D sample view `view` (mod the number of
    views) of every shape; meta gains `n_views` and `view` (the shown view's azimuth) for 3D."""
    meta = json.loads((folder / "meta.json").read_text())
    return modality.get(meta.get("modality")).sample_pictures(folder, meta, view)


def interleave(labels: list[int]) -> list[int]:
    """Indices ordered one of each class, then the second of each…: any prefix of the grid shows every class."""
    rank: dict[int, int] = {}
    keyed = []
    for i, lab in enumerate(labels):
        keyed.append((rank.get(lab, 0), lab, i))
        rank[lab] = rank.get(lab, 0) + 1
    return [i for _, _, i in sorted(keyed)]


def describe(meta: dict, folder: Path, count: int, names: list[str] = ()) -> str:
    """The caption: what was sampled (class `digit` by its name in `names` when it has one), the settings, where."""
    digit = meta.get("digit")
    classes = len(set(meta.get("labels") or [])) or 1
    noun = "shapes" if meta.get("n_views") else "digits"
    if digit is None:
        what = f"{count} {noun}, {count // classes} per class"
    elif 0 <= digit < len(names) and names[digit] != str(digit):
        what = f"{count} × {names[digit]}"
    else:
        what = f"{count} × {'class' if meta.get('n_views') else 'digit'} {digit}"
    if meta.get("n_views"):
        what += f"  ·  view {meta['view']}° (←/→ turn)"
    knobs = "  ".join(f"{k} {meta[k]}" for k in ("temperature", "top_k", "top_p", "steps", "eta", "seed", "size")
                      if k in meta)
    if meta.get("cfg", 1.0) != 1.0:
        knobs += f"  cfg {meta['cfg']:g}" + ("" if meta.get("cfg_schedule", "constant") == "constant"
                                             else f" ({meta['cfg_schedule']})")
    grid = folder / "grid.png"
    return f"{what}  ·  {knobs}\nsaved: {display_path(grid if grid.exists() else folder)}"


class GenerateScreen(BaseScreen):
    BINDINGS = [Binding("ctrl+g", "generate", "Generate", priority=True),
                Binding("ctrl+f", "toggle_form", "Toggle form", priority=True),
                Binding("left", "turn(-1)", "Turn", show=False),
                Binding("right", "turn(1)", "Turn", show=False)]

    def body(self) -> ComposeResult:
        with Horizontal():
            with VerticalScroll(id="gen-form"):
                yield Static("Generate", classes="panel-title")
                yield Label("run")
                yield Select([], id="gen-run", prompt="pick a trained run", compact=True)
                yield Label("digit", id="gen-digit-label")
                yield Select([("all", "all")], value="all", allow_blank=False, id="gen-digit", compact=True)
                shared = set.intersection(*(set(g.settings) for g in GENERATORS.values()))
                for s in FIELDS:  # until a run is shown (_fill_defaults shows its own), the settings all share
                    label = Label(s.label, id=f"gen-{s.arg}-label")
                    field = Input("0" if s.arg == "seed" else "", id=f"gen-{s.arg}", compact=True)
                    label.display = field.display = s in shared
                    yield label
                    yield field
                yield Button("Generate (ctrl+g)", variant="primary", id="gen-go")
                yield ProgressBar(total=1, id="gen-progress", show_eta=False)
                yield Static("", id="gen-status", classes="hint")
                yield Static("esc leaves a field · F1–F4 switch screens", classes="hint")
            with Vertical(id="gen-right"):
                yield DigitGrid("pick a trained run and press ctrl+g", id="gen-grid")

    def on_mount(self) -> None:
        self.busy = False
        self.view = 0  # which view of a 3D sample's shapes is shown
        self.chosen: tuple[str, dict] | None = None  # (run, setting) picked on the Metrics screen's sweep table
        self.class_names: list[str] = []  # the shown run's classes, label i first
        self.seeded_for: str | None = None  # the run whose seed the seed input was last set to
        self.followed = 0  # the Runs screen's highlight count when this screen last switched to its run
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        sel = self.query_one("#gen-run", Select)
        runs = [r.name for r in self.workspace.runs()]
        current = sel.value if isinstance(sel.value, str) else None
        sel.set_options([(r, r) for r in runs])
        trained = [r for r in runs if self.workspace.run(r).is_done("train")]
        pick = current if current in runs else (trained[-1] if trained else (runs[-1] if runs else None))
        if self.app.current_run in runs and self.app.highlights != self.followed:  # g on a run of Runs opens it
            self.followed, pick = self.app.highlights, self.app.current_run
        if pick is not None:
            sel.value = pick

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "gen-run" and isinstance(event.value, str):
            self._fill_defaults(event.value)
            self.load_classes(event.value)
            grid = self.query_one("#gen-grid", DigitGrid)
            self.show_latest(event.value, grid.budget())

    def _fill_defaults(self, name: str) -> None:
        try:
            c = self.workspace.run(name).config()
        except UserError as e:
            self.error(e)
            return
        try:
            own = declared(c.model.kind).settings
        except UserError as e:
            self.error(e)
            return
        for s in FIELDS:
            for widget in (self.query_one(f"#gen-{s.arg}-label", Label), self.query_one(f"#gen-{s.arg}", Input)):
                widget.display = s in own
            if s.field is not None:
                self.query_one(f"#gen-{s.arg}", Input).value = str(getattr(c.sample, s.field))
            elif s is SEED and name != self.seeded_for:
                # another run: its own seed, so ctrl+g on the defaults draws what `nfgen sample RUN` draws (a seed
                # typed for this run stays when the screen comes back)
                self.query_one(f"#gen-{s.arg}", Input).value = str(c.seed)
                self.seeded_for = name
        self.query_one("#gen-size-label", Label).update(
            modality.for_dataset(c.data.dataset).size_label or SIZE.label)
        if self.chosen is not None and self.chosen[0] == name:
            self._fill_setting(self.chosen[1])

    @work(thread=True, exclusive=True, group="gen-classes")
    def load_classes(self, name: str) -> None:
        """(worker thread: it reads the codebook or checkpoint and imports the generator) the run's classes."""
        try:
            names = class_names(self.workspace.run(name))
        except UserError:  # a broken config.toml: _fill_defaults reports it
            names = []
        self.post(self._fill_classes, name, names)

    def _fill_classes(self, name: str, names: list[str]) -> None:
        """Offer `all` and each class of run `name` by its name; keep the picked class when the new run has one of
        that name."""
        if self.query_one("#gen-run", Select).value != name:
            return
        picker = self.query_one("#gen-digit", Select)
        value = picker.value if isinstance(picker.value, str) else "all"
        picked = self.class_names[int(value)] if value != "all" and int(value) < len(self.class_names) else None
        changed, self.class_names = names != self.class_names, names
        if changed:  # the shown sample's caption names its class
            self._regrid()
        digits = all(n == str(i) for i, n in enumerate(names))
        self.query_one("#gen-digit-label", Label).update("digit" if digits else "class")
        self.query_one("#gen-n-label", Label).update("count per digit" if digits else "count per class")
        picker.set_options([("all", "all")] + [(n, str(i)) for i, n in enumerate(names)])
        picker.value = str(names.index(picked)) if picked in names else "all"

    def _fill_setting(self, setting: dict) -> None:
        for s in FIELDS:
            if s.arg in setting:
                self.query_one(f"#gen-{s.arg}", Input).value = s.text(setting[s.arg])

    def use_setting(self, name: str, setting: dict) -> None:
        """Select `name` and fill in a sweep cell's setting: the form inputs of its sweep axes (the GPT's
        temperature / top-k / top-p / cfg, the denoiser's DDIM steps / eta / cfg); the other fields keep theirs.

        Remembered for that run: the run select's change event, handled after this, refills the config defaults."""
        try:
            generator = declared(self.workspace.run(name).config().model.kind)
        except UserError as e:
            self.error(e)
            return
        axes = [s for s in generator.settings if s.sweep_axis and s.label]  # sweep axes are sample.* fields
        self.chosen = (name, {s.arg: setting.get(s.field, s.missing) for s in axes})
        self.query_one("#gen-run", Select).value = name
        self._fill_setting(self.chosen[1])
        self.query_one("#gen-status", Static).update(
            f"setting from the sweep: {generator.says(self.chosen[1])} — ctrl+g to generate")

    @work(thread=True, exclusive=True, group="gen-show")
    def show_latest(self, name: str, budget: tuple[int, int]) -> None:
        folder = latest_sample(self.workspace.run(name).dir)
        if folder is None:
            msg = "no samples yet — press ctrl+g" if self.workspace.run(name).is_done("train") else \
                f"{name} has no trained model yet: train it on the Runs screen (r, then p)"
            self.post(self.query_one("#gen-grid", DigitGrid).show, None, msg)
            return
        self._show_folder(folder, budget)

    def _show_folder(self, folder: Path, budget: tuple[int, int]) -> None:
        """(worker thread) load images, lay them out for the panel, hand the picture to the UI thread."""
        try:
            images, meta = load_sample(folder, self.view)
        except (OSError, ValueError) as e:
            self.post(self.error, e)
            return
        labels = meta.get("labels")
        if isinstance(labels, list) and len(labels) == len(images):
            images = images[interleave([int(v) for v in labels])]
        cols, shown = fit_grid(len(images), images.shape[-1], budget)
        img = grid_image(images[:shown], cols=cols)
        caption = describe(meta, folder, len(images), self.class_names)
        if shown < len(images):  # first, so a narrow panel's caption can't cut it off
            more = "" if self.query_one("#gen-form").has_class("-hidden") else " (ctrl+f hides the form)"
            caption = f"showing {shown} of {len(images)}{more} · {caption}"
        self.post(self.query_one("#gen-grid", DigitGrid).show, img, caption)

    def action_toggle_form(self) -> None:
        """Give the grid the whole width (a small terminal shows 6 digits beside the form, 10 without it)."""
        self.query_one("#gen-form").toggle_class("-hidden")
        if self.query_one("#gen-form").has_class("-hidden") and self.focused is not None:
            self.set_focus(None)
        self.call_after_refresh(self._regrid)

    def action_turn(self, step: int) -> None:
        """Show the next (or previous) view of a 3D sample's shapes."""
        self.view += step
        self._regrid()

    def on_resize(self) -> None:
        self.call_after_refresh(self._regrid)

    def _regrid(self) -> None:
        """Lay the shown samples out again for the grid's new size."""
        name = self.query_one("#gen-run", Select).value
        if isinstance(name, str) and not self.busy:
            self.show_latest(name, self.query_one("#gen-grid", DigitGrid).budget())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "gen-go":
            self.action_generate()

    def _settings(self) -> tuple[str, dict]:
        name = self.query_one("#gen-run", Select).value
        if not isinstance(name, str):
            raise UserError("pick a run first (it needs a trained model)")
        digit = self.query_one("#gen-digit", Select).value
        kwargs: dict = {"digit": None if digit == "all" else int(digit)}
        for s in declared(self.workspace.run(name).config().model.kind).settings:
            text = self.query_one(f"#gen-{s.arg}", Input).value.strip() if s.label else ""
            if not text:
                continue
            try:
                kwargs[s.arg] = s.type(text)
            except ValueError:
                raise UserError(f"{s.label}: {text!r} is not a {s.type.__name__}") from None
        return name, kwargs

    def action_generate(self) -> None:
        if self.busy:
            self.notify("already generating — wait for it to finish", severity="warning")
            return
        try:
            name, kwargs = self._settings()
        except UserError as e:
            self.error(e)
            return
        self.busy = True
        self.query_one("#gen-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#gen-status", Static).update(f"sampling from {name}…")
        self.sample(name, kwargs, self.query_one("#gen-grid", DigitGrid).budget())

    @work(thread=True, exclusive=True, group="gen-sample")
    def sample(self, name: str, kwargs: dict, budget: tuple[int, int]) -> None:
        bar = self.query_one("#gen-progress", ProgressBar)

        last = [0.0]

        def progress(done, total, **info):
            now = time.monotonic()
            if now - last[0] >= 0.1 or done >= total:  # each post waits for the UI thread: not per token
                last[0] = now
                self.post(bar.update, total=total, progress=done)

        try:
            result = run_sample(self.workspace.run(name).require(), progress=progress, device=None, **kwargs)
        except Exception as e:  # noqa: BLE001 - a failed sample is reported, the app stays up
            self.post(self._done, f"failed: {e}", e)
            return
        self._show_folder(Path(result["dir"]), budget)
        self.post(self._done, f"done: {display_path(Path(result['dir']))}", None)

    def _done(self, status: str, error: BaseException | None) -> None:
        self.busy = False
        self.query_one("#gen-status", Static).update(status)
        if error is not None:
            self.error(error)
