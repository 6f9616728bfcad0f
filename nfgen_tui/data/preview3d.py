"""`nfgen data show` for 3D datasets (and the TUI's Datasets gallery): class counts, skipped meshes by name, and
shapes drawn as depth-shaded views of their true surface points (`geometry.splat`), so a terminal shows them with
half-block characters, no graphics needed."""

from __future__ import annotations

import numpy as np

from ..geometry.splat import splat_views
from ..progress import ProgressFn, null_progress
from ..termimage import halfblock_grid
from . import shapes
from .info import skipped_text
from .shapeset import load_shapes

SIDE = 28  # pixels per shape, as the digits: 14 terminal rows


def preview_set(name: str, root, n: int, progress: ProgressFn = null_progress):
    """The ShapeSet a preview of `n` shapes draws from: of the built-in `shapes` only as many per class as the
    picture needs (made once, cached like any); a meshes folder whole (its first load samples every mesh)."""
    kwargs = {}
    if name == "shapes":
        kwargs["per_class"] = min(shapes.PER_CLASS, -(-max(1, n) // len(shapes.CLASSES)))
    return load_shapes(name, root, progress, **kwargs)


def preview_views(ss, n: int, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(indices, views float32 [k, side, side] in [0, 1]) of k = min(n, len) shapes drawn with seed 0, one shaded
    view each."""
    if len(ss) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, side, side), dtype=np.float32)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ss), size=min(max(1, n), len(ss)), replace=False))
    views = np.stack([splat_views(ss.surface[i], size=side)[0] for i in pick]).astype(np.float32) / 255.0
    return pick, views


def show_shapes(name: str, root, n: int, console) -> None:
    ss = preview_set(name, root, n)
    if name == "shapes":
        console.print(f"[bold]shapes[/]: {shapes.PER_CLASS * len(shapes.CLASSES)} shapes, "
                      f"{len(shapes.CLASSES)} classes ({shapes.PER_CLASS} each, made on first use)")
    else:
        console.print(f"[bold]{ss.name}[/]: {len(ss)} shapes, {len(ss.classes)} classes")
        for c, k in zip(ss.classes, ss.class_counts()):
            console.print(f"  {c:>10}: {k}")
    if ss.skipped:
        console.print(skipped_text(ss.skipped), markup=False, highlight=False, soft_wrap=True)
    if len(ss) == 0:
        return
    pick, views = preview_views(ss, n)
    console.print(halfblock_grid(views, cols=max(1, min(10, console.width // (SIDE + 1)))))
    console.print("labels: " + " ".join(ss.classes[i] for i in ss.labels[pick]))
