"""The fidelity–variety front of a sweep: classifier accuracy against 1-NNA for every cell, as a PNG and as text.

Accuracy says the digits are the digits asked for; 1-NNA (→ 0.5) says the set is as varied and as real as the data.
Sampling settings move along a trade-off between them, so one cell is one point of it: the picture shows all of them,
joins the Pareto-optimal ones (no other cell has higher accuracy *and* lower 1-NNA) and puts the eval stage's rows
beside them — held-out real digits (the ceiling), the marginal-token and train+noise baselines, the run's default
sample — which were scored against the same reference set when the sweep uses the eval's set size.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, PngImagePlugin

from ..workspace import atomic_path
from .grid import cell_label
from .pictures import _font

W, H = 720, 520
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 50, 60
REFERENCE_MARKS = {"held-out real": "#", "marginal": "%", "train + noise": "+", "default sample": "@"}


def pareto_keys(cells: list[dict]) -> list[str]:
    """Keys of the cells no other cell dominates (accuracy ≥ and 1-NNA ≤, one of them strictly), by 1-NNA."""
    scored = [c for c in cells if c.get("nna") is not None and c.get("classifier_accuracy") is not None]
    front = []
    for c in scored:
        a, n = c["classifier_accuracy"], c["nna"]
        if not any(o["classifier_accuracy"] >= a and o["nna"] <= n and (o["classifier_accuracy"] > a or o["nna"] < n)
                   for o in scored):
            front.append(c)
    return [c["key"] for c in sorted(front, key=lambda c: (c["nna"], -c["classifier_accuracy"]))]


def reference_points(eval_result: dict | None) -> list[dict]:
    """The eval stage's baselines and default sample as (name, mark, accuracy, 1-NNA) points; none without an eval."""
    if not eval_result:
        return []
    rows = [(name, row) for name, row in (eval_result.get("baselines") or {}).items()]
    rows.append(("default sample", eval_result))
    out = []
    for name, row in rows:
        if row.get("nna") is None or row.get("classifier_accuracy") is None:
            continue
        out.append({"name": name, "mark": REFERENCE_MARKS.get(name, "="),
                    "classifier_accuracy": row["classifier_accuracy"], "nna": row["nna"]})
    return out


def _points(sweep: dict) -> list[dict]:
    """The scored cells of this sweep's grid, in grid order (sweep.json also keeps cells of earlier grids)."""
    cells = sweep.get("cells", {})
    keys = [s["key"] for s in sweep["settings"]] if "settings" in sweep else list(cells)
    return [cells[k] for k in keys if k in cells and cells[k].get("nna") is not None
            and cells[k].get("classifier_accuracy") is not None]


def _ranges(points: list[dict], refs: list[dict]) -> tuple[float, float, float, float]:
    xs = [p["nna"] for p in points + refs] or [0.5, 1.0]
    ys = [p["classifier_accuracy"] for p in points + refs] or [0.0, 1.0]
    x0, x1 = min(min(xs), 0.5), max(xs)
    y0, y1 = min(ys), max(max(ys), 1.0 if max(ys) > 0.9 else max(ys))
    pad_x, pad_y = max((x1 - x0) * 0.06, 0.01), max((y1 - y0) * 0.06, 0.01)
    return x0 - pad_x, x1 + pad_x, y0 - pad_y, min(y1 + pad_y, 1.02)


LABEL_SPOTS = ((9, -6), (9, 4), (-9, -6), (-9, 4), (0, -20), (0, 10), (9, -16), (-9, -16), (9, 14), (-9, 14))


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font, taken: list[tuple]) -> tuple:
    """The first spot around a point (right, left, above, below…) where its label's box meets no box already drawn
    and stays inside the picture; cells crowd together on a front, and overlapping labels read as nothing."""
    x, y = xy
    best = None
    for dx, dy in LABEL_SPOTS:
        w = draw.textlength(text, font=font)
        left = x + dx if dx >= 0 else x + dx - w
        box = draw.textbbox((left, y + dy), text, font=font)
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= W and box[3] <= H
        if inside and not any(_overlaps(box, t) for t in taken):
            best = box
            break
        if best is None and inside:
            best = box
    best = best or draw.textbbox((x + 9, y - 6), text, font=font)
    taken.append(best)
    return best


def front_png(sweep: dict, eval_result: dict | None, path: Path) -> dict:
    """Write the front picture; returns the geometry also stored in the PNG's `nfgen-front` text chunk."""
    points, refs = _points(sweep), reference_points(eval_result)
    front = pareto_keys(points)
    x0, x1, y0, y1 = _ranges(points, refs)

    def px(nna: float, acc: float) -> tuple[int, int]:
        return (round(LEFT + (nna - x0) / (x1 - x0) * (W - LEFT - RIGHT)),
                round(H - BOTTOM - (acc - y0) / (y1 - y0) * (H - TOP - BOTTOM)))

    img = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, small = _font(13), _font(10)
    draw.text((8, 6), f"fidelity-variety front: {len(points)} settings, {sweep.get('n_generated', '?')} vs "
                      f"{sweep.get('n_reference', '?')} images, model step {sweep.get('step', '?')}",
              fill=(0, 0, 0), font=font)
    draw.text((8, 24), "up: classifier accuracy (higher is better); left: 1-NNA (0.5 is ideal); line: Pareto front",
              fill=(70, 70, 70), font=small)
    draw.rectangle((LEFT, TOP, W - RIGHT, H - BOTTOM), outline=(0, 0, 0))
    for i in range(6):  # ticks
        v = x0 + (x1 - x0) * i / 5
        x, _ = px(v, y0)
        draw.line((x, H - BOTTOM, x, H - BOTTOM + 4), fill=(0, 0, 0))
        draw.text((x - 12, H - BOTTOM + 6), f"{v:.2f}", fill=(0, 0, 0), font=small)
        a = y0 + (y1 - y0) * i / 5
        _, y = px(x0, a)
        draw.line((LEFT - 4, y, LEFT, y), fill=(0, 0, 0))
        draw.text((LEFT - 36, y - 6), f"{a:.2f}", fill=(0, 0, 0), font=small)
    draw.text(((W - 40) // 2, H - 24), "1-NNA", fill=(0, 0, 0), font=font)
    draw.text((6, TOP - 16), "accuracy", fill=(0, 0, 0), font=small)
    if x0 < 0.5 < x1:
        x, _ = px(0.5, y0)
        draw.line((x, TOP, x, H - BOTTOM), fill=(200, 200, 200))
    by_key = {c["key"]: c for c in points}
    line = [px(by_key[k]["nna"], by_key[k]["classifier_accuracy"]) for k in front]
    if len(line) > 1:
        draw.line(line, fill=(30, 110, 200), width=2)
    geometry = {"x": "nna", "y": "classifier_accuracy", "range": [x0, x1, y0, y1], "front": front, "cells": [],
                "references": []}
    taken: list[tuple] = []  # boxes of the marks and labels drawn so far: labels go where they hide nothing
    ref_xy = [px(ref["nna"], ref["classifier_accuracy"]) for ref in refs]
    cell_xy = [px(c["nna"], c["classifier_accuracy"]) for c in points]
    taken += [(x - 7, y - 7, x + 7, y + 7) for x, y in ref_xy] + [(x - 5, y - 5, x + 5, y + 5) for x, y in cell_xy]
    for ref, (x, y) in zip(refs, ref_xy):  # first: a cell at the same place (the default sample is often one) stays visible on top
        draw.rectangle((x - 7, y - 7, x + 7, y + 7), fill=(230, 120, 40), outline=(0, 0, 0))
        box = place_label(draw, (x, y), ref["name"], small, taken)
        draw.text(box[:2], ref["name"], fill=(160, 70, 0), font=small, anchor="lt")
        geometry["references"].append({**ref, "xy": [x, y], "label_box": list(box)})
    for c, (x, y) in zip(points, cell_xy):
        on = c["key"] in front
        r = 5 if on else 4
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(30, 110, 200) if on else (150, 150, 150), outline=(0, 0, 0))
        box = place_label(draw, (x, y), cell_label(c), small, taken)
        draw.text(box[:2], cell_label(c), fill=(0, 0, 0) if on else (90, 90, 90), font=small, anchor="lt")
        geometry["cells"].append({"key": c["key"], "label": cell_label(c), "nna": c["nna"],
                                  "classifier_accuracy": c["classifier_accuracy"], "xy": [x, y], "front": on,
                                  "label_box": list(box)})
    info = PngImagePlugin.PngInfo()
    info.add_text("nfgen-front", json.dumps(geometry))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", pnginfo=info)
    return geometry


def front_text(sweep: dict, eval_result: dict | None, width: int = 56, height: int = 14) -> str:
    """The same scatter in characters: a letter per cell (upper case on the front), # % + @ for the references
    (held-out real, marginal, train + noise, the default sample), then a legend line per point."""
    points, refs = _points(sweep), reference_points(eval_result)
    if not points:
        return "no scored sweep cells yet"
    front = pareto_keys(points)
    x0, x1, y0, y1 = _ranges(points, refs)
    canvas = [[" "] * width for _ in range(height)]

    def put(nna: float, acc: float, ch: str) -> None:
        col = min(width - 1, max(0, round((nna - x0) / (x1 - x0) * (width - 1))))
        row = min(height - 1, max(0, round((y1 - acc) / (y1 - y0) * (height - 1))))
        canvas[row][col] = ch

    letters = "abcdefghijklmnopqrstuvwxyz"
    marks = {}
    for i, c in enumerate(points):
        ch = letters[i % 26]
        marks[c["key"]] = ch.upper() if c["key"] in front else ch
        put(c["nna"], c["classifier_accuracy"], marks[c["key"]])
    for ref in refs:
        put(ref["nna"], ref["classifier_accuracy"], ref["mark"])
    lines = [f"accuracy {y1:.2f}"]
    lines += ["│" + "".join(row) for row in canvas]
    lines.append("└" + "─" * width)
    lines.append(f" 1-NNA {x0:.2f}" + " " * max(1, width - 22) + f"{x1:.2f}")
    lines.append(f"accuracy {y0:.2f} at the bottom; UPPER CASE: on the Pareto front (best trade-offs)")
    for c in points:
        star = " front" if c["key"] in front else ""
        lines.append(f" {marks[c['key']]} {cell_label(c):<22} acc {c['classifier_accuracy']:.3f}  "
                     f"1-NNA {c['nna']:.3f}{star}")
    for ref in refs:
        lines.append(f" {ref['mark']} {ref['name']:<22} acc {ref['classifier_accuracy']:.3f}  1-NNA {ref['nna']:.3f}")
    return "\n".join(lines)


def read_front_geometry(path: Path) -> dict:
    with Image.open(path) as im:
        return json.loads(im.text["nfgen-front"])
