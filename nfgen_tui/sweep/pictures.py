"""Sweep pictures drawn with PIL alone (ASCII labels: the fallback font has no arrows or dashes): a heat map per metric and a strip of sample grids per cell for one digit.

Layout of both: temperature rows × top-k columns, one panel per (top-p, cfg, schedule) stacked downwards (a
diffusion sweep: DDIM-steps rows × cfg columns, one panel per eta; grid.TableAxes). Each heat-map PNG
carries its geometry in a text chunk (`nfgen-sweep`: metric, panels, cell boxes with their key and value), so a
reader (or a test) can find every cell's pixels without guessing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from ..workspace import atomic_path
from .grid import LABELS, LOWER_IS_BETTER, panel_title, panels, table_axes

CELL_W, CELL_H = 76, 34
MARGIN_L, MARGIN_T, TITLE_H, PANEL_GAP = 70, 58, 26, 16
BEST = (20, 20, 20)
MISSING = (200, 200, 200)
BG = (255, 255, 255)


def _font(size: int = 12):
    """DejaVu Sans where the system has it (clear word spaces at small sizes), else Pillow's bundled font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def colour(value: float | None, lo: float, hi: float, lower_is_better: bool) -> tuple[int, int, int]:
    """Red (worst in the sweep) → yellow → green (best); grey for a missing value."""
    if value is None:
        return MISSING
    x = 0.5 if hi <= lo else (value - lo) / (hi - lo)
    good = 1.0 - x if lower_is_better else x
    if good < 0.5:  # red → yellow
        r, g = 220, int(70 + 2 * good * 150)
    else:  # yellow → green
        r, g = int(220 - 2 * (good - 0.5) * 170), 220 - int(2 * (good - 0.5) * 40)
    return (r, g, 70)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def cells_by_setting(sweep: dict) -> dict:
    """(temperature, top_k, top_p, cfg, cfg_schedule) → cell record ((steps, cfg, eta) for a diffusion sweep)."""
    axes = table_axes(sweep)
    return {axes.setting_of(c): c for c in sweep.get("cells", {}).values()}


def _k_label(k: int) -> str:
    return "off" if k == 0 else str(k)


def _canvas(sweep: dict, cell_w: int, cell_h: int, pad: int, title: str):
    """The shared layout of heat maps and strips: one panel per (top-p, cfg, schedule), T rows × top-k columns.

    Returns (image, draw, font, cells) where cells lists (setting, x, y) of every cell's top-left corner, setting
    being (t, k, p, cfg, schedule) (a diffusion sweep: (steps, cfg, eta))."""
    grid, axes = sweep["grid"], table_axes(sweep)
    ts, ks, ps = grid[axes.row], grid[axes.col], panels(sweep)
    panel_h = TITLE_H + len(ts) * cell_h
    width = MARGIN_L + len(ks) * cell_w + pad
    height = MARGIN_T + len(ps) * panel_h + (len(ps) - 1) * PANEL_GAP + pad
    img = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(img)
    font, small = _font(13), _font(11)
    draw.text((8, 6), title, fill=(0, 0, 0), font=font)
    draw.text((8, 28), axes.subtitle, fill=(60, 60, 60), font=small)
    at = []
    for pi, panel in enumerate(ps):
        y0 = MARGIN_T + pi * (panel_h + PANEL_GAP)
        draw.text((8, y0 + 4), panel_title(sweep, panel), fill=(60, 60, 60), font=small)
        for ki, k in enumerate(ks):
            draw.text((MARGIN_L + ki * cell_w + cell_w // 2 - 8, y0 + 4), axes.col_label(k), fill=(0, 0, 0), font=font)
        for ti, t in enumerate(ts):
            y = y0 + TITLE_H + ti * cell_h
            draw.text((8, y + cell_h // 2 - 7), axes.row_label(t), fill=(0, 0, 0), font=font)
            at += [((t, k, *panel), MARGIN_L + ki * cell_w, y) for ki, k in enumerate(ks)]
    return img, draw, font, at


def heatmap(sweep: dict, metric: str, path: Path) -> dict:
    """Write eval/sweep_<metric>.png; returns the geometry also stored in the PNG."""
    grid, axes = sweep["grid"], table_axes(sweep)
    ts, ks, ps = grid[axes.row], grid[axes.col], panels(sweep)
    cells = cells_by_setting(sweep)
    values = [c.get(metric) for c in cells.values()]
    values = [v for v in values if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    best_key = (sweep.get("best") or {}).get("key")
    better = "lower" if LOWER_IS_BETTER[metric] else "higher"
    img, draw, font, at = _canvas(sweep, CELL_W, CELL_H, 12,
                                  f"{LABELS[metric]} ({better} is better, green = best of the sweep)")
    boxes = []
    for setting, x, y in at:
        cell = cells.get(setting)
        v = None if cell is None else cell.get(metric)
        box = (x, y, x + CELL_W - 1, y + CELL_H - 1)
        draw.rectangle(box, fill=colour(v, lo, hi, LOWER_IS_BETTER[metric]), outline=BG)
        is_best = cell is not None and cell.get("key") == best_key
        if is_best:
            draw.rectangle(box, outline=BEST, width=3)
        draw.text((box[0] + 14, box[1] + CELL_H // 2 - 7), _fmt(v), fill=(0, 0, 0), font=font)
        boxes.append({"key": None if cell is None else cell["key"], **dict(zip((axes.row, axes.col, *axes.panel), setting)),
                      "value": v, "box": list(box), "best": is_best})
    geometry = {"metric": metric, "rows": len(ts), "cols": len(ks), "panels": len(ps), "cells": boxes,
                "range": [lo, hi]}
    info = PngImagePlugin.PngInfo()
    info.add_text("nfgen-sweep", json.dumps(geometry))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return geometry


def strip(sweep: dict, images_of, digit: int, path: Path, per_cell: int = 9) -> Path:
    """eval/sweep_strip_<digit>.png: for each cell a small grid (3 columns) of its first `per_cell` samples of
    `digit`, cells laid out like the heat maps. `images_of(key)` → (images [N, 28, 28] in [0, 1], labels [N])."""
    cells = cells_by_setting(sweep)
    side, cols = 28, 3
    rows = -(-per_cell // cols)
    tile_w, tile_h = cols * (side + 1) + 10, rows * (side + 1) + 10
    img, draw, _, at = _canvas(sweep, tile_w, tile_h, 8, f"digit {digit}: first {per_cell} samples per setting")
    for setting, tx, ty in at:
        draw.rectangle((tx + 2, ty + 2, tx + tile_w - 3, ty + tile_h - 3), fill=(0, 0, 0))
        cell = cells.get(setting)
        if cell is None:
            continue
        imgs, labels = images_of(cell["key"])
        pick = imgs[np.asarray(labels) == digit][:per_cell]
        for j, im in enumerate(pick):
            u8 = Image.fromarray(np.clip(np.rint(im * 255), 0, 255).astype(np.uint8), "L").convert("RGB")
            img.paste(u8, (tx + 5 + (j % cols) * (side + 1), ty + 5 + (j // cols) * (side + 1)))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def read_geometry(path: Path) -> dict:
    """The geometry a heat-map PNG carries (see heatmap)."""
    with Image.open(path) as im:
        return json.loads(im.text["nfgen-sweep"])
