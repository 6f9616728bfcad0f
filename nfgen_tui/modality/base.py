"""What one modality declares: the datasets it claims, its nouns, its preset twin, and where its work lives.

A `Modality` is torch-free (the TUI and the CLI read declarations at start-up, as they read the generators'): its
fitting (`load`, `fit`, `score`, `agreement`, `render`, `write_samples`) lives in the module `fields_module` names,
its evaluation (`evaluate`) in `evaluate_module`, its dataset handling (`prepare`, `class_names`, `info`,
`train_classifier`) in `datasets_module`; each is imported on first use. Every front end and stage asks the
declaration and never branches on a modality's name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..progress import ProgressFn, null_progress


@dataclass(frozen=True)
class Nouns:
    """How messages name this modality's things."""
    item: str  # one dataset item: "image" / "shape"
    items: str  # "images" / "shapes"
    kind: str  # the kind of data a preset is sized for: "images" / "3D shapes"
    generated: str  # what a grid of generated items shows: "digits" / "shapes"


class Modality:
    """One modality's declaration; subclasses fill in the class attributes and `claims`."""
    name: str  # layout.json's modality, report.json's `modality`
    dim: int  # coordinate dimension of a field (layout.json `dim`)
    target: str  # what a field predicts (layout.json `target`)
    quality: str  # the per-field score's name (`psnr`, `iou`)
    quality_unit: str
    nouns: Nouns
    built_in: tuple[str, ...]  # the datasets `nfgen data list` always shows, in order
    described: dict[str, str]  # dataset name (or `prefix:PATH`) -> one line describing it
    preset_suffix: str  # its presets are the 2D presets' names plus this ("" for images, "3d" for shapes)
    prepare_progress: str | None  # what `prepare` counts on a progress bar (None: it reports no progress)
    prepared: str  # what `nfgen data prepare` adds after "N items ready"
    gallery: str  # what the Datasets screen's gallery draws: "images" or "shape views"
    first_use: str  # what a dataset's first load does, said while it loads ("" when nothing is computed)
    no_download: str  # why `prepare` in the TUI downloads nothing ("" when it downloads)
    size_label: str | None  # the Generate form's label of `--size` (None: the generator's own, pixels)
    sweeps: bool  # `nfgen sweep` can score its samples
    fields_module: str
    evaluate_module: str
    datasets_module: str

    def claims(self, dataset: str) -> bool:
        """Whether `dataset` (a name as `--dataset` takes it) is fitted as this modality."""
        raise NotImplementedError

    # the modules behind the declaration ----------------------------------------------------------------------
    def _fields(self) -> ModuleType:
        return importlib.import_module(self.fields_module)

    def _datasets(self) -> ModuleType:
        return importlib.import_module(self.datasets_module)

    # fitting, scoring, rendering (docs/contracts.md, "Modalities") -----------------------------------------------
    def load(self, cfg, root):
        """The run's selected fitting targets (row i = field i) with `.labels`, `.split`, `.classes`, `.images`."""
        return self._fields().load(cfg, root)

    def fit(self, data, start: int, stop: int, init, layout, fc, seed: int, device, on_step=None,
            log_every: int = 25):
        """Fields start…stop-1 fitted from `init`: (weights [n, P], quality [n], final loss)."""
        return self._fields().fit(data, start, stop, init, layout, fc, seed, device, on_step=on_step,
                                  log_every=log_every)

    def batches(self, data, rows, layout, fc, seed: int, device):
        """What fitters that own more than the weights (the subspace fit: codes, a shared base) need of the fields
        `rows` (an index tensor into `data`): `batch(step)` → (feats [M, F] shared or [n, M, F] per field, targets
        [n, M]) on `device`, for `fields.adam_fit` / `functional.loss_and_grad` — the points the modality's own `fit`
        fits at that step (images: every pixel; shapes: the step's seeded subset of the fit samples)."""
        return self._fields().batches(data, rows, layout, fc, seed, device)

    def score(self, weights, layout, data, device):
        """The per-field quality [N] of fields against their targets."""
        return self._fields().score(weights, layout, data, device)

    def agreement(self, weights_a, weights_b, layout, data, device):
        """The quality [N] of one version of the fields against another (quantized against unquantized)."""
        return self._fields().agreement(weights_a, weights_b, layout, data, device)

    def render(self, weights, layout, size: int):
        """2D: intensities [N, size, size]; 3D: occupancy probabilities [N, size, size, size]."""
        return self._fields().render(weights, layout, size)

    def write_samples(self, out: Path, weights, labels, layout, size: int, per_row: int, progress=None) -> dict:
        """What a sample folder holds beyond its weights; returns the extra meta.json keys."""
        return self._fields().write_samples(out, weights, labels, layout, size, per_row, progress=progress)

    def sample_pictures(self, folder: Path, meta: dict, view: int = 0):
        """A sample folder's pictures [N, H, W] in [0, 1] and its meta (with what the picture shows)."""
        return self._datasets().sample_pictures(folder, meta, view)

    # evaluation -----------------------------------------------------------------------------------------------
    def evaluate(self, run, cfg, inputs, dev, progress: ProgressFn) -> dict:
        """Stage 5's result (eval/metrics.json) for the run's default sample and the baselines, from what the eval
        stage loaded (`metrics.eval_inputs.EvalInputs`)."""
        return importlib.import_module(self.evaluate_module).evaluate(run, cfg, inputs, dev, progress)

    def train_classifier(self, workspace, dataset: str, epochs: int, seed: int, device, force: bool,
                         progress: ProgressFn = null_progress) -> tuple[object, dict]:
        """`nfgen classifier train`: the network that scores generated items of `dataset` (cached)."""
        return self._datasets().train_classifier(workspace, dataset, epochs, seed, device, force, progress)

    # datasets -------------------------------------------------------------------------------------------------
    def prepare(self, name: str, root: Path, download: bool, progress: ProgressFn = null_progress):
        """Make a dataset ready (download, check or compute its samples); returns it (`len`, `class_counts()`)."""
        return self._datasets().prepare(name, root, download, progress)

    def class_names(self, name: str) -> list[str]:
        """The dataset's class names, label i first, without reading its items."""
        return self._datasets().class_names(name)

    def info(self, name: str, root: Path, load=None):
        """What a listing says about the dataset (`data.info.DatasetInfo`), without computing samples; `load`
        (name, root) reads an image dataset (the TUI passes its cache)."""
        return self._datasets().info(name, root, load)

    def show(self, name: str, root: Path, n: int, console) -> None:
        """`nfgen data show`: class counts and `n` items drawn in the terminal."""
        self._datasets().show(name, root, n, console)

    def preset_twin(self, preset: str, other: "Modality") -> str:
        """The name of `preset` (sized for `other`) sized for this modality: quick → quick3d and back."""
        return preset.removesuffix(other.preset_suffix) + self.preset_suffix

    def __repr__(self) -> str:
        return f"<modality {self.name}>"
