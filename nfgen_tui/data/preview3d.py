"""`nfgen data show` for 3D datasets: class counts, skipped meshes by name, and shapes drawn in the terminal as
depth-shaded views of their true surface points (`geometry.splat`), half-block characters, no graphics needed."""

from __future__ import annotations

import numpy as np

SIDE = 28  # pixels per shape, as the digits: 14 terminal rows


def show_shapes(name: str, root, n: int, console) -> None:
    from ..geometry.splat import splat_views
    from ..termimage import halfblock_grid
    from . import shapes
    from .datasets import skipped_text
    from .shapeset import load_shapes

    want = max(1, n)
    kwargs = {}
    if name == "shapes":  # the built-in set: make only as many per class as the picture shows (cached like any)
        kwargs["per_class"] = min(shapes.PER_CLASS, -(-want // len(shapes.CLASSES)))
    ss = load_shapes(name, root, **kwargs)
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
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ss), size=min(want, len(ss)), replace=False))
    views = np.stack([splat_views(ss.surface[i], size=SIDE)[0] for i in pick]).astype(np.float32) / 255.0
    console.print(halfblock_grid(views, cols=max(1, min(10, console.width // (SIDE + 1)))))
    console.print("labels: " + " ".join(ss.classes[i] for i in ss.labels[pick]))
