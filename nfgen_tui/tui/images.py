"""Digit grids as terminal images: numpy arrays → one PIL image → a textual-image widget.

textual-image picks its renderer when it is imported (kitty graphics or sixel if the terminal answers the query,
half-block cells on any other terminal, plain unicode when stdout is not a terminal), so this module is imported
before the app starts. `NFGEN_IMAGES=halfcell|sixel|tgp|unicode|auto` overrides the choice (e.g. a tmux without
sixel support that still answers the query); tests force `halfcell`, which is deterministic and looks the same
over SSH and inside tmux. A terminal that does not answer a query within the library's 0.1 s (script(1), a slow
SSH link) gets half blocks too, and no traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Callable

import numpy as np
from PIL import Image as PILImage


class _Timeouts(logging.Handler):
    """Keeps textual-image's log records of a terminal query that timed out."""

    def __init__(self) -> None:
        super().__init__()
        self.timed_out = False

    def emit(self, record: logging.LogRecord) -> None:
        self.timed_out |= bool(record.exc_info and isinstance(record.exc_info[1], TimeoutError))


def quiet_probe(probe: Callable[[], object]) -> bool:
    """Run one of textual-image's terminal probes; True when a terminal query timed out. The library logs that
    timeout as a warning with its traceback, which Python printed on stderr before the app drew: the records stay
    here instead. A probe that fails outright (a timeout it does not catch, a 0×0 pty under script(1) dividing by
    zero, a garbled answer) counts the same."""
    log = logging.getLogger("textual_image")
    timeouts = _Timeouts()
    log.addHandler(timeouts)
    propagate, log.propagate = log.propagate, False
    try:
        probe()
    except (TimeoutError, OSError, ArithmeticError, ValueError):  # no answer, a 0×0 pty, a garbled answer
        from textual_image._terminal import CellSize, get_cell_size

        get_cell_size._result = CellSize(10, 20)  # the library's own fallback: nobody asks the terminal again
        timeouts.timed_out = True
    finally:
        log.removeHandler(timeouts)
        log.propagate = propagate
    return timeouts.timed_out


# import-time terminal detection, before the app runs
TIMED_OUT = quiet_probe(lambda: importlib.import_module("textual_image.widget"))
import textual_image.widget as tiw  # noqa: E402

MODES = {"auto": tiw.Image, "halfcell": tiw.HalfcellImage, "sixel": tiw.SixelImage, "tgp": tiw.TGPImage,
         "unicode": tiw.UnicodeImage}


def image_class(mode: str | None = None):
    """The widget class for `mode` (else NFGEN_IMAGES, else auto: the library's choice, or half blocks when the
    terminal did not answer in time)."""
    mode = (mode or os.environ.get("NFGEN_IMAGES") or "auto").lower()
    if mode == "auto" and TIMED_OUT:
        return tiw.HalfcellImage
    return MODES.get(mode, tiw.Image)


def grid_image(images: np.ndarray, cols: int, gap: int = 2, scale: int = 1) -> PILImage.Image:
    """N×H×W floats in [0, 1] → one grayscale image, `cols` per row, `gap` dark pixels between digits."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    n, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    canvas = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap), 0.12, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        canvas[y:y + h, x:x + w] = images[i]
    img = PILImage.fromarray((canvas * 255).round().astype(np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), PILImage.Resampling.NEAREST)
    return img.convert("RGB")


def cell_pixels(cls) -> tuple[int, int]:
    """Image pixels one terminal cell shows: 1×2 with half blocks, the terminal's cell size with graphics."""
    renderable = getattr(cls, "_Renderable", None)
    if renderable is not None and renderable.__module__.endswith(("halfcell", "unicode")):
        return 1, 2
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return size.width, size.height


def fit_grid(n: int, side: int, budget: tuple[int, int], min_px: int = 14, gap: int = 2,
             max_cols: int = 10) -> tuple[int, int]:
    """(columns, how many to show) so that each digit gets at least `min_px` pixels of the `budget` (w, h)."""
    bw, bh = max(budget[0], 1), max(budget[1], 1)
    for cols in range(min(n, max_cols), 0, -1):
        rows = -(-n // cols)
        scale = min(bw / (cols * (side + gap) + gap), bh / (rows * (side + gap) + gap))
        if scale * side >= min_px:
            return cols, n
    cols = max(1, min(max_cols, bw // (min_px + 1)))
    rows = max(1, bh // (min_px + 1))
    return cols, min(n, cols * rows)
