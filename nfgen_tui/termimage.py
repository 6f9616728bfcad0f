"""Grayscale images drawn with half-block characters (two pixels per cell), for `data show` and logs.

Works in any terminal that shows 24-bit or 256 colours, over SSH and inside tmux; no graphics protocol needed.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text


def _grey(v: float) -> str:
    g = int(round(float(np.clip(v, 0.0, 1.0)) * 255))
    return f"#{g:02x}{g:02x}{g:02x}"


def halfblock(image: np.ndarray) -> Text:
    """One H×W image in [0, 1] → H/2 lines of W cells ('▀': foreground = upper pixel, background = lower)."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape[0] % 2:
        img = np.vstack([img, np.zeros((1, img.shape[1]), np.float32)])
    text = Text()
    for r in range(0, img.shape[0], 2):
        for c in range(img.shape[1]):
            text.append("▀", Style(color=_grey(img[r, c]), bgcolor=_grey(img[r + 1, c])))
        if r + 2 < img.shape[0]:
            text.append("\n")
    return text


def halfblock_grid(images: np.ndarray, cols: int = 10, gap: int = 1) -> Text:
    """A grid of images (N×H×W) with `gap` black columns/rows between them."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    canvas = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap), np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = images[i]
    return halfblock(canvas)
