"""The new-run form: a name, a preset, a dataset, the generator (model.kind) and the settings people change most,
as `--set` overrides."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ... import config as cfgmod
from ...errors import UserError

# (config key, label) — shown prefilled from the chosen preset; a changed value becomes `--set key=value`
KEY_SETTINGS = [
    ("data.limit", "images (0 = all)"),
    ("fields.steps", "field steps"),
    ("codebook.mode", "codebook mode"),
    ("codebook.size", "codes"),
    ("model.n_layer", "GPT layers"),
    ("model.n_embd", "GPT width"),
    ("train.iters", "train iters"),
    ("train.batch_size", "batch size"),
]
DATASETS = ["mnist-5k", "mnist", "fashion-mnist", "shapes"]
GENERATORS = [("GPT over VQ tokens", "gpt"), ("weight-space diffusion", "diffusion")]  # model.kind


def preset_value(preset: str, key: str) -> str:
    c = cfgmod.preset(preset)
    obj = c
    for part in key.split("."):
        obj = getattr(obj, part)
    return str(obj)


def build_config(preset: str, dataset: str, settings: dict[str, str], extra: str) -> tuple[cfgmod.Config, list[str]]:
    """The run's config and the overrides that made it (settings that differ from the preset, then `extra`)."""
    overrides = [f"{k}={v}" for k, v in settings.items() if v.strip() and v.strip() != preset_value(preset, k)]
    overrides += extra.split()
    c = cfgmod.preset(preset)
    if dataset.strip():
        c.data.dataset = dataset.strip()
    cfgmod.apply_overrides(c, overrides)
    return c, overrides


class NewRunScreen(ModalScreen[str | None]):
    """Dismisses with the new run's name, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "create", "Create")]

    def compose(self) -> ComposeResult:
        with Vertical(id="new-run"):
            yield Static("New run", classes="panel-title")
            with Grid(id="new-run-grid"):
                yield Label("name")
                yield Input(placeholder="e.g. quick1", id="nr-name", restrict=r"[A-Za-z0-9._-]*")
                yield Label("preset")
                yield Select([(p, p) for p in cfgmod.PRESETS], value="quick", allow_blank=False, id="nr-preset")
                yield Label("dataset")
                yield Select([(d, d) for d in DATASETS], value="mnist-5k", allow_blank=False, id="nr-dataset")
                yield Label("generator")
                yield Select(GENERATORS, value="gpt", allow_blank=False, id="nr-model-kind")
                for key, label in KEY_SETTINGS:
                    yield Label(label)
                    yield Input(preset_value("quick", key), id="nr-" + key.replace(".", "-"))
                yield Label("more --set")
                yield Input(placeholder="section.key=value …", id="nr-extra")
            yield Static("", id="nr-error", classes="error")
            with Horizontal(id="nr-buttons"):
                yield Button("Create", variant="primary", id="nr-create")
                yield Button("Cancel", id="nr-cancel")

    def on_mount(self) -> None:
        self.query_one("#nr-name", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "nr-preset" and isinstance(event.value, str):
            for key, _ in KEY_SETTINGS:
                self.query_one("#nr-" + key.replace(".", "-"), Input).value = preset_value(event.value, key)
            dataset = preset_value(event.value, "data.dataset")  # a 3D preset brings its dataset along
            if dataset in DATASETS:
                self.query_one("#nr-dataset", Select).value = dataset

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "nr-create":
            self.action_create()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_create()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_create(self) -> None:
        name = self.query_one("#nr-name", Input).value.strip()
        preset = str(self.query_one("#nr-preset", Select).value)
        dataset = str(self.query_one("#nr-dataset", Select).value)
        settings = {k: self.query_one("#nr-" + k.replace(".", "-"), Input).value for k, _ in KEY_SETTINGS}
        settings["model.kind"] = str(self.query_one("#nr-model-kind", Select).value)
        extra = self.query_one("#nr-extra", Input).value
        try:
            if not name:
                raise UserError("give the run a name")
            c, _ = build_config(preset, dataset, settings, extra)
            self.app.workspace.create_run(name, c)
        except UserError as e:
            self.query_one("#nr-error", Static).update(str(e))
            return
        self.dismiss(name)
