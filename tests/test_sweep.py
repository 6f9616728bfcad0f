"""`nfgen sweep` on a tiny real run (fit → codebook → train): every cell stored, resume after an interruption,
greedy top-k = 1 independent of T, the best-cell rule, heat-map pixels, the CLI with --apply, a guidance (cfg) axis
and the fidelity–variety front picture."""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nfgen_tui.errors import UserError
from nfgen_tui.sweep import best_cell, load_cell_images, load_sweep, run_sweep
from nfgen_tui.sweep.pictures import BEST, colour, heatmap, read_geometry
from nfgen_tui.workspace import Workspace
from tiny_runs import TINY_TRAINED, trained_run

CELL_KEYS = ("temperature", "top_k", "top_p", "key", "mmd", "cov", "nna", "n_generated", "n_reference",
             "classifier_accuracy", "memorization_rate", "seconds")
GRID = dict(temperatures="0.8,1.2", top_ks="1,0", top_ps="1.0")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained tiny run (blobs after ten steps: fine for checking the machinery, not the digits)."""
    ws = Workspace(tmp_path_factory.mktemp("sweep") / "ws")
    run = trained_run(ws, [*TINY_TRAINED, "sample.n_per_class=3", "eval.set_size=25", "eval.classifier_epochs=1",
                           "train.class_dropout=0.2"])
    return run


@pytest.fixture(scope="module")
def swept(trained):
    """A 2 × 2 sweep interrupted while sampling its second cell, then resumed."""
    run = trained
    seen = []

    def kill_in_second_cell(done, total, **info):
        seen.append(info.get("cell"))
        if info.get("phase") == "sample" and info.get("cell") == "t0.8-k0-p1":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(run, kill_in_second_cell, **GRID)
    partial = load_sweep(run)
    result = run_sweep(run, **GRID)
    return run, partial, result


def test_tiny_sweep_stores_every_cell_with_its_scores(swept):
    run, _, r = swept
    assert r["complete"] and r["grid"] == {"temperature": [0.8, 1.2], "top_k": [1, 0], "top_p": [1.0], "cfg": [1.0],
                                           "cfg_schedule": ["constant"]}
    assert sorted(r["cells"]) == sorted(["t0.8-k1-p1", "t0.8-k0-p1", "t1.2-k1-p1", "t1.2-k0-p1"])
    # 30 samples per cell (3 per class), 25 of them (eval.set_size) against 25 reference images
    assert r["n_per_cell"] == 30 and r["n_generated"] == r["n_reference"] == 25
    for cell in r["cells"].values():
        assert all(k in cell for k in CELL_KEYS)
        assert cell["n_generated"] == cell["n_reference"] == 25
        assert 0 <= cell["mmd"] <= 1 and 0 < cell["cov"] <= 1 and 0 <= cell["nna"] <= 1
        assert 0 <= cell["classifier_accuracy"] <= 1 and 0 <= cell["memorization_rate"] <= 1
        images, labels = load_cell_images(run, cell["key"])
        assert images.shape == (30, 28, 28) and list(labels) == [c for c in range(10) for _ in range(3)]
    assert json.loads((run.dir / "eval" / "sweep.json").read_text()) == r
    assert r["best"]["key"] == best_cell(list(r["cells"].values()))["key"]


def test_resume_recomputes_nothing_finished(swept):
    run, partial, r = swept
    assert not partial["complete"] and list(partial["cells"]) == ["t0.8-k1-p1"]
    assert r["cells"]["t0.8-k1-p1"] == partial["cells"]["t0.8-k1-p1"]  # same record, timings included
    events, _ = run.events("sweep")
    scored = [e["cell"] for e in events if "cell" in e]
    assert sorted(scored) == sorted(r["cells"])  # each cell scored once over both calls
    assert [e["event"] for e in events if e.get("event") in ("start", "interrupted", "done")] == \
        ["start", "interrupted", "start", "done"]
    again = run_sweep(run, **GRID)  # finished: nothing left to compute
    assert again["cells"] == r["cells"]
    assert len([e for e in run.events("sweep")[0] if "cell" in e]) == len(scored)


def test_top_k_1_is_greedy_whatever_the_temperature(swept):
    """The sampler itself: top-k = 1 draws the same tokens at any T and top-p (the sweep then scores them once)."""
    import torch

    from nfgen_tui.model.stage import load_trained, sample_sequences

    run, _, r = swept
    model, vocab, _ = load_trained(run, torch.device("cpu"))
    labels = torch.arange(vocab.n_classes).repeat_interleave(2)
    draw = [sample_sequences(model, vocab, labels, t, k, p, seed=0, batch_size=300)
            for t, k, p in ((0.5, 1, 1.0), (2.0, 1, 0.5), (0.5, 0, 1.0), (2.0, 0, 1.0))]
    assert torch.equal(draw[0], draw[1])
    assert not torch.equal(draw[2], draw[3])  # without top-k, temperature changes the draw
    # in the sweep: the second greedy cell is the first one's draw, stored under its own settings
    a, b = r["cells"]["t0.8-k1-p1"], r["cells"]["t1.2-k1-p1"]
    assert b["same_as"] == "t0.8-k1-p1" and b["temperature"] == 1.2
    assert (a["mmd"], a["cov"], a["nna"]) == (b["mmd"], b["cov"], b["nna"])
    assert np.array_equal(load_cell_images(run, a["key"])[0], load_cell_images(run, b["key"])[0])
    assert not np.array_equal(load_cell_images(run, "t0.8-k0-p1")[0], load_cell_images(run, "t1.2-k0-p1")[0])


def test_best_cell_rule_on_hand_made_results():
    cells = [
        {"key": "a", "nna": 0.60, "classifier_accuracy": 0.70, "mmd": 0.2},  # best 1-NNA, but accuracy too low
        {"key": "b", "nna": 0.80, "classifier_accuracy": 0.90, "mmd": 0.2},  # best accuracy
        {"key": "c", "nna": 0.75, "classifier_accuracy": 0.86, "mmd": 0.3},  # within 0.05: lowest 1-NNA there
        {"key": "d", "nna": 0.74, "classifier_accuracy": 0.84, "mmd": 0.1},  # 0.06 below the best: out
        {"key": "e", "nna": None, "classifier_accuracy": 0.99, "mmd": 0.1},  # unscored: ignored
    ]
    assert best_cell(cells)["key"] == "c"
    assert best_cell(cells, tolerance=0.07)["key"] == "d"
    assert best_cell(cells, tolerance=0.5)["key"] == "a"
    tie = [{"key": "x", "nna": 0.7, "classifier_accuracy": 0.8, "mmd": 0.3},
           {"key": "y", "nna": 0.7, "classifier_accuracy": 0.82, "mmd": 0.4}]
    assert best_cell(tie)["key"] == "y"  # equal 1-NNA: the more accurate
    assert best_cell([{"key": "z", "nna": None, "classifier_accuracy": None}]) is None


def _hand_made_sweep() -> dict:
    ts, ks, ps = [0.6, 0.8, 1.0], [1, 3, 5, 0], [1.0, 0.9]
    cells, i = {}, 0
    for t in ts:
        for k in ks:
            for p in ps:
                key = f"t{t:g}-k{k}-p{p:g}"
                cells[key] = {"key": key, "temperature": t, "top_k": k, "top_p": p, "nna": 0.5 + 0.02 * i,
                              "classifier_accuracy": 0.9, "mmd": 0.2}
                i += 1
    return {"grid": {"temperature": ts, "top_k": ks, "top_p": ps}, "cells": cells,
            "best": {"key": "t0.6-k1-p1"}}


def test_heatmap_png_has_one_coloured_block_per_cell(tmp_path):
    sweep = _hand_made_sweep()
    path = tmp_path / "sweep_nna.png"
    heatmap(sweep, "nna", path)
    geo = read_geometry(path)
    assert (geo["rows"], geo["cols"], geo["panels"]) == (3, 4, 2) and len(geo["cells"]) == 24
    img = np.asarray(Image.open(path).convert("RGB"))
    values = [c["nna"] for c in sweep["cells"].values()]
    lo, hi = min(values), max(values)
    fills = set()
    for c in geo["cells"]:
        x0, y0, x1, y1 = c["box"]
        px = tuple(int(v) for v in img[y0 + 5, x0 + 5])
        assert px == colour(sweep["cells"][c["key"]]["nna"], lo, hi, True)
        fills.add(px)
        edge = tuple(int(v) for v in img[y0 + 1, (x0 + x1) // 2])
        assert (edge == BEST) == (c["key"] == "t0.6-k1-p1")  # only the best cell is framed
    assert len(fills) == 24  # 24 distinct values → 24 distinct colours
    # without the metadata: along the first row of cells, the coloured runs are exactly the 4 top-k columns
    first = geo["cells"][0]["box"]
    line = img[first[1] + 5]
    coloured = ~np.all(line == 255, axis=1) & ~np.all(line < 100, axis=1)
    runs = np.flatnonzero(np.diff(np.concatenate([[0], coloured.astype(int), [0]])) == 1)
    wide = [s for s in runs if coloured[s:s + 40].all()]
    assert len(wide) == 4


def test_cli_sweep_draws_pictures_and_applies_the_best_setting(swept):
    from typer.testing import CliRunner

    from nfgen_tui.cli import app

    run, _, r = swept
    res = CliRunner().invoke(app, ["-w", str(run.workspace.root), "sweep", "tiny", "--temperature", "0.8,1.2", "--top-k", "1,0", "--digit", "3",
                                   "--apply", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["cells"] == r["cells"]  # stored cells, not recomputed
    for m in ("nna", "mmd", "cov", "classifier_accuracy", "memorization_rate"):
        assert read_geometry(run.dir / "eval" / f"sweep_{m}.png")["cells"].__len__() == 4
    strip = Image.open(run.dir / "eval" / "sweep_strip_3.png")
    assert strip.size[0] > 2 * 28 and strip.size[1] > 2 * 28
    best = r["best"]
    sc = run.config().sample
    assert (sc.temperature, sc.top_k, sc.top_p) == (best["temperature"], best["top_k"], best["top_p"])
    assert out["applied"]["after"] == {k: best[k] for k in ("temperature", "top_k", "top_p", "cfg", "cfg_schedule")}
    assert out["front"] == str(run.dir / "eval" / "sweep_front.png") and Path(out["front"]).exists()

    bad = CliRunner().invoke(app, ["-w", str(run.workspace.root), "sweep", "tiny", "--temperature", "0,1"])
    assert bad.exit_code == 2 and "--temperature values must be > 0" in bad.output
    with pytest.raises(UserError, match="--top-k"):
        run_sweep(run, top_ks="3,x")


def test_a_cell_scores_exactly_what_nfgen_eval_scores_for_its_setting(swept):
    """Same sampler, seed, reference set and scoring code: after --apply (previous test), the default sample is the
    best cell's setting, and run_eval's generated row equals that cell."""
    from nfgen_tui.stages.evaluate import run_eval
    from nfgen_tui.model.stage import run_sample

    run, _, r = swept
    sc = run.config().sample
    cell = r["cells"][f"t{sc.temperature:g}-k{sc.top_k}-p{sc.top_p:g}"]
    assert cell["key"] == r["best"]["key"]
    run_sample(run)
    ev = run_eval(run)
    for k in ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "memorization_rate"):
        assert ev[k] == cell[k], k


def test_a_cfg_axis_is_one_more_grid_dimension_and_the_front_is_drawn(swept):
    """After the other tests (the run has an eval by now, so the front carries its baselines)."""
    from typer.testing import CliRunner

    from nfgen_tui.cli import app
    from nfgen_tui.stages.evaluate import run_eval
    from nfgen_tui.model.stage import run_sample
    from nfgen_tui.sweep.front import pareto_keys, read_front_geometry

    run, _, r = swept
    run_sample(run)
    ev = run_eval(run)
    res = CliRunner().invoke(app, ["-w", str(run.workspace.root), "sweep", "tiny", "--temperature", "1.2", "--top-k",
                                   "0", "--cfg", "1,2", "--cfg-schedule", "constant,first:3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    keys = ["t1.2-k0-p1", "t1.2-k0-p1-g2", "t1.2-k0-p1-g2-first3"]
    assert [s["key"] for s in out["settings"]] == keys  # cfg 1 has no schedule: one cell, not two
    assert out["grid"]["cfg"] == [1.0, 2.0] and out["grid"]["cfg_schedule"] == ["constant", "first:3"]
    assert out["cells"]["t1.2-k0-p1"] == r["cells"]["t1.2-k0-p1"]  # the unguided cell of the first sweep, reused
    g2, g2f = out["cells"]["t1.2-k0-p1-g2"], out["cells"]["t1.2-k0-p1-g2-first3"]
    assert (g2["cfg"], g2["cfg_schedule"], g2f["cfg"], g2f["cfg_schedule"]) == (2.0, "constant", 2.0, "first:3")
    assert load_cell_images(run, "t1.2-k0-p1-g2")[0].shape == (30, 28, 28)
    geo = read_front_geometry(run.dir / "eval" / "sweep_front.png")
    assert sorted(c["key"] for c in geo["cells"]) == sorted(keys)
    assert geo["front"] == pareto_keys([out["cells"][k] for k in keys]) and geo["front"]
    refs = {x["name"]: x for x in geo["references"]}
    assert {"held-out real", "marginal", "train + noise", "default sample"} <= set(refs)
    assert refs["marginal"]["nna"] == ev["baselines"]["marginal"]["nna"]
    img = np.asarray(Image.open(run.dir / "eval" / "sweep_front.png").convert("RGB"))
    for c in geo["cells"]:  # a marker at every point: blue on the front, grey off it
        x, y = c["xy"]
        assert tuple(int(v) for v in img[y, x]) == ((30, 110, 200) if c["front"] else (150, 150, 150))
    text = CliRunner().invoke(app, ["-w", str(run.workspace.root), "sweep", "tiny", "--temperature", "1.2", "--top-k",
                                    "0", "--cfg", "1,2", "--cfg-schedule", "constant,first:3"])
    assert text.exit_code == 0 and "Pareto front" in text.output and "held-out real" in text.output


def test_pareto_front_keeps_the_undominated_cells():
    from nfgen_tui.sweep.front import pareto_keys

    cells = [{"key": "a", "nna": 0.70, "classifier_accuracy": 0.80}, {"key": "b", "nna": 0.75, "classifier_accuracy": 0.90},
             {"key": "c", "nna": 0.76, "classifier_accuracy": 0.85}, {"key": "d", "nna": 0.65, "classifier_accuracy": 0.60},
             {"key": "e", "nna": 0.70, "classifier_accuracy": 0.80}]
    assert pareto_keys(cells) == ["d", "a", "e", "b"]  # c is beaten by b on both; equal points both stay


def test_front_labels_of_crowded_points_do_not_overlap(tmp_path):
    """Six settings within 0.01 of each other (a typical cfg × top-p corner) and two baselines beside them: every
    label gets its own box, and no label box covers another."""
    from nfgen_tui.sweep.front import front_png

    settings, cells = [], {}
    for i, (nna, acc) in enumerate([(0.75, 0.84), (0.752, 0.845), (0.755, 0.85), (0.751, 0.838), (0.76, 0.86),
                                    (0.758, 0.842)]):
        key = f"k{i}"
        settings.append({"key": key})
        cells[key] = {"key": key, "temperature": 1.0, "top_k": 0, "top_p": 0.9, "cfg": 1 + i / 4, "nna": nna,
                      "classifier_accuracy": acc}
    ev = {"nna": 0.752, "classifier_accuracy": 0.845,
          "baselines": {"marginal": {"nna": 0.81, "classifier_accuracy": 0.72},
                        "held-out real": {"nna": 0.48, "classifier_accuracy": 0.98}}}
    geo = front_png({"settings": settings, "cells": cells}, ev, tmp_path / "front.png")
    boxes = [c["label_box"] for c in geo["cells"]] + [r["label_box"] for r in geo["references"]]
    assert len(boxes) == 9
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
