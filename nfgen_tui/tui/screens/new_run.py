"""The new-run form: a name, a preset, a dataset, the generator (model.kind) and the settings people change most,
as `--set` overrides.

The generator starts at the preset's and its four size fields (layers, width, iterations, batch) show the chosen
generator's own keys: `model.*` / `train.*` for the GPT, `diffusion.*` for the denoiser.

The dataset list holds the built-in 2D and 3D sets and the folder / meshes datasets the workspace knows. A preset
is sized for one kind of data, so picking a 3D dataset under a 2D preset switches to its 3D twin (quick → quick3d,
paper → paper3d) and back: a 2D preset's fields and codebook would fit 12-class shapes badly."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ... import config as cfgmod
from ...errors import UserError
from ...modality import built_in, for_dataset
from ...model.generator import GENERATORS
from ...newrun import matching_preset, with_flags
from .datasets import short_name

# (config key, label) — shown prefilled from the chosen preset; a changed value becomes `--set key=value`
KEY_SETTINGS = [
    ("data.limit", "images (0 = all)"),  # the dataset's items: "shapes (0 = all)" for a 3D dataset
    ("fields.steps", "field steps"),
    ("codebook.mode", "codebook mode"),
    ("codebook.size", "codes"),
]
DATASETS = built_in()
GENERATOR_CHOICES = [(g.title, g.kind) for g in GENERATORS.values()]  # model.kind
# slot → (config key, label) per generator (its declared sizes): the same four inputs, relabelled when it changes
GENERATOR_SETTINGS = {g.kind: dict(zip(("layers", "width", "iters", "batch"), g.sizes, strict=True))
                      for g in GENERATORS.values()}


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
    return with_flags(cfgmod.preset(preset), dataset, overrides), overrides


class NewRunScreen(ModalScreen[str | None]):
    """Dismisses with the new run's name, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "create", "Create")]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # as BaseScreen's: 80×24 gets a one-column form
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def compose(self) -> ComposeResult:
        with Vertical(id="new-run"):
            yield Static("New run", classes="panel-title")
            with Grid(id="new-run-grid"):
                yield Label("name")
                yield Input(placeholder="e.g. quick1", id="nr-name", restrict=r"[A-Za-z0-9._-]*")
                yield Label("preset")
                yield Select([(p, p) for p in cfgmod.PRESETS], value="quick", allow_blank=False, id="nr-preset")
                yield Label("dataset")
                known = [d for d in self.app.workspace.dataset_names() if d not in DATASETS]
                yield Select([(short_name(d, 30), d) for d in (*DATASETS, *known)], value="mnist-5k",
                             allow_blank=False, id="nr-dataset")
                yield Label("generator")
                kind = preset_value("quick", "model.kind")
                yield Select(GENERATOR_CHOICES, value=kind, allow_blank=False, id="nr-model-kind")
                for key, label in KEY_SETTINGS:
                    yield Label(label, id="nr-" + key.replace(".", "-") + "-label")
                    yield Input(preset_value("quick", key), id="nr-" + key.replace(".", "-"))
                for slot, (key, label) in GENERATOR_SETTINGS[kind].items():
                    yield Label(label, id=f"nr-{slot}-label")
                    yield Input(preset_value("quick", key), id=f"nr-{slot}")
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
            kind = preset_value(event.value, "model.kind")
            self.query_one("#nr-model-kind", Select).value = kind
            self.show_generator_settings(event.value, kind)
            dataset = preset_value(event.value, "data.dataset")  # a 3D preset brings its dataset along, and back
            picked = self.query_one("#nr-dataset", Select)
            if for_dataset(dataset) is not for_dataset(str(picked.value)):
                picked.value = dataset
        elif event.select.id == "nr-model-kind" and isinstance(event.value, str):
            self.show_generator_settings(str(self.query_one("#nr-preset", Select).value), event.value)
        elif event.select.id == "nr-dataset" and isinstance(event.value, str):
            self.query_one("#nr-data-limit-label", Label).update(
                f"{for_dataset(event.value).nouns.items} (0 = all)")
            preset = self.query_one("#nr-preset", Select)
            twin = matching_preset(str(preset.value), event.value)
            if twin != preset.value:
                preset.value = twin
                self.notify(f"preset {twin}: sized for {for_dataset(event.value).nouns.kind}",
                            timeout=4)

    def show_generator_settings(self, preset: str, kind: str) -> None:
        """Relabel the four size inputs for generator `kind` and fill them with `preset`'s values."""
        for slot, (key, label) in GENERATOR_SETTINGS[kind].items():
            self.query_one(f"#nr-{slot}-label", Label).update(label)
            self.query_one(f"#nr-{slot}", Input).value = preset_value(preset, key)

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
        kind = str(self.query_one("#nr-model-kind", Select).value)
        settings.update({key: self.query_one(f"#nr-{slot}", Input).value
                         for slot, (key, _) in GENERATOR_SETTINGS[kind].items()})
        settings["model.kind"] = kind
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
