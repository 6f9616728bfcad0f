"""`nfgen sweep` of a diffusion run (model.kind = diffusion) on a tiny trained denoiser: a DDIM steps × cfg (× eta)
grid scored like the GPT's cells, resume by cell key, the best-cell rule, the pictures and the front, a cfg = 1 cell
equal to plain `nfgen sample`, --apply writing sample.steps / eta / cfg, and the axes of the other generator refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui import config as cfgmod
from nfgen_tui.errors import UserError
from nfgen_tui.sweep import best_cell, load_cell_images, load_sweep, run_sweep
from nfgen_tui.sweep.front import read_front_geometry
from nfgen_tui.sweep.pictures import heatmap, read_geometry
from nfgen_tui.workspace import Workspace
from test_diffusion import cli, fitted_run

GRID = dict(steps="3,5", cfgs="1,2")
KEYS = ["s3-e0-g1", "s3-e0-g2", "s5-e0-g1", "s5-e0-g2"]


@pytest.fixture(scope="module")
def dswept(tmp_path_factory):
    """A tiny guided denoiser, swept over 2 steps × 2 cfg, interrupted while sampling its second cell, resumed."""
    from nfgen_tui.model.diffusion.stage import run_train

    ws = Workspace(tmp_path_factory.mktemp("dsweep") / "ws")
    run = fitted_run(ws, ["train.class_dropout=0.2", "sample.n_per_class=3", "eval.set_size=25",
                          "eval.classifier_epochs=1", "codebook.size=16", "codebook.iters=3"])
    run_train(run)

    def kill_in_second_cell(done, total, **info):
        if info.get("phase") == "sample" and info.get("cell") == KEYS[1]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(run, kill_in_second_cell, **GRID)
    partial = load_sweep(run)
    return run, partial, run_sweep(run, **GRID)


def test_diffusion_sweep_stores_every_cell_under_its_own_keys(dswept):
    run, _, r = dswept
    assert r["complete"] and r["grid"] == {"steps": [3, 5], "eta": [0.0], "cfg": [1.0, 2.0]}
    assert [s["key"] for s in r["settings"]] == KEYS and sorted(r["cells"]) == sorted(KEYS)
    assert r["identity"]["kind"] == "diffusion" and r["n_per_cell"] == 30 and r["n_generated"] == 25
    for key, cell in r["cells"].items():
        assert (cell["steps"], cell["eta"], cell["cfg"]) == (int(key[1]), 0.0, float(key[-1]))
        assert "temperature" not in cell and cell["n_generated"] == cell["n_reference"] == 25
        assert 0 <= cell["nna"] <= 1 and 0 <= cell["classifier_accuracy"] <= 1 and 0 <= cell["mmd"] <= 1
        images, labels = load_cell_images(run, key)
        assert images.shape == (30, 28, 28) and list(labels) == [c for c in range(10) for _ in range(3)]
    # the steps and the guidance scale both change the draw
    a, b, c = (load_cell_images(run, k)[0] for k in ("s3-e0-g1", "s5-e0-g1", "s3-e0-g2"))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    assert json.loads((run.dir / "eval" / "sweep.json").read_text()) == r
    best = best_cell([r["cells"][k] for k in KEYS])
    assert r["best"] == {k: best[k] for k in ("key", "steps", "eta", "cfg", "nna", "mmd", "cov",
                                              "classifier_accuracy", "memorization_rate")}


def test_an_interrupted_diffusion_sweep_resumes_without_rescoring(dswept):
    run, partial, r = dswept
    assert not partial["complete"] and list(partial["cells"]) == [KEYS[0]]
    assert r["cells"][KEYS[0]] == partial["cells"][KEYS[0]]  # the stored record, timings included
    events, _ = run.events("sweep")
    assert sorted(e["cell"] for e in events if "cell" in e) == sorted(KEYS)  # each cell scored once
    again = run_sweep(run, **GRID)
    assert again["cells"] == r["cells"]


def test_a_cfg_1_cell_is_exactly_nfgen_sample_at_its_steps_and_eta(dswept):
    """Same sampler, labels, seed and batches: the cell's images are `nfgen sample`'s weights rendered for eval —
    at eta 0 and with DDIM noise (eta 0.5), which a new cell of the same sweep adds."""
    from nfgen_tui.fields.fit_files import load_layout
    from nfgen_tui.modality.image2d.evaluate import render_for_eval
    from nfgen_tui.model.diffusion.stage import run_sample

    run, _, _ = dswept
    r = run_sweep(run, steps="5", etas="0.5", cfgs="1")
    assert list(r["grid"]) == ["steps", "eta", "cfg"] and "s5-e0.5-g1" in r["cells"]
    for key, eta in (("s5-e0-g1", 0.0), ("s5-e0.5-g1", 0.5)):
        out = run_sample(run, n=3, steps=5, eta=eta, cfg=1.0)
        w = load_file(str(run.stage_dir("sample") / out["id"] / "weights.safetensors"))["weights"]
        imgs = render_for_eval(w.float(), load_layout(run), torch.device("cpu"))
        u8 = np.clip(np.rint(imgs * 255.0), 0, 255).astype(np.uint8)
        assert np.array_equal(u8.astype(np.float32) / 255.0, load_cell_images(run, key)[0]), key
    assert not np.array_equal(load_cell_images(run, "s5-e0-g1")[0], load_cell_images(run, "s5-e0.5-g1")[0])


def test_cli_diffusion_sweep_draws_pictures_and_applies_steps_eta_cfg(dswept):
    run, _, r = dswept
    res = cli(run.workspace, "sweep", run.name, "--steps", "3,5", "--cfg", "1,2", "--apply", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {k: out["cells"][k] for k in KEYS} == r["cells"]  # stored cells, not recomputed
    geo = read_geometry(run.dir / "eval" / "sweep_nna.png")
    assert (geo["rows"], geo["cols"], geo["panels"]) == (2, 2, 1)
    assert sorted((c["steps"], c["cfg"], c["eta"], c["key"]) for c in geo["cells"]) == \
        sorted((int(k[1]), float(k[-1]), 0.0, k) for k in KEYS)
    assert [c["key"] for c in geo["cells"] if c["best"]] == [r["best"]["key"]]
    front = read_front_geometry(run.dir / "eval" / "sweep_front.png")
    assert sorted(c["key"] for c in front["cells"]) == sorted(KEYS)
    assert {c["label"] for c in front["cells"]} == {"3 steps g1", "3 steps g2", "5 steps g1", "5 steps g2"}
    best = r["best"]
    assert out["applied"]["after"] == {"steps": best["steps"], "eta": best["eta"], "cfg": best["cfg"]}
    sc = run.config().sample
    assert (sc.steps, sc.eta, sc.cfg) == (best["steps"], best["eta"], best["cfg"])
    text = cli(run.workspace, "sweep", run.name, "--steps", "3,5", "--cfg", "1,2")
    assert text.exit_code == 0, text.output
    assert "steps \\ cfg" in text.output and f"DDIM steps {best['steps']}" in text.output
    assert "Pareto front" in text.output


def test_after_apply_nfgen_eval_scores_exactly_the_best_cell(dswept):
    """After --apply (previous test) the default sample is the best cell's setting — guided or not — and run_eval's
    generated row equals that cell (eval's baselines need the codebook stage, which a diffusion run may still run)."""
    from nfgen_tui.stages.evaluate import run_eval
    from nfgen_tui.model.diffusion.stage import run_sample
    from nfgen_tui.tokens.stage import run_codebook

    run, _, r = dswept
    sc = run.config().sample
    cell = r["cells"][f"s{sc.steps}-e{sc.eta:g}-g{sc.cfg:g}"]
    assert cell["key"] == r["best"]["key"]
    run_codebook(run, device="cpu")
    run_sample(run)
    ev = run_eval(run)
    for k in ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "memorization_rate"):
        assert ev[k] == cell[k], k


def test_diffusion_defaults_and_bad_axes(dswept, tmp_path):
    from nfgen_tui.model.generator import declared

    run, _, _ = dswept
    before = (run.dir / "eval" / "sweep.json").read_bytes()
    for args, says in ((("--top-k", "3"), "--top-k: not a sweep axis"),
                       (("--temperature", "1", "--cfg-schedule", "linear"), "--temperature, --cfg-schedule: not a"),
                       (("--steps", "0"), "--steps values must be in 1..500"),
                       (("--steps", "501"), "1..500"), (("--steps", "3,x"), "--steps takes"),
                       (("--eta", "2"), "--eta values must be in [0, 1]"), (("--cfg", "-1"), "--cfg values")):
        res = cli(run.workspace, "sweep", run.name, *args)
        assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, (args, res.output)
    assert (run.dir / "eval" / "sweep.json").read_bytes() == before  # nothing overwritten
    # defaults: the guidance scales of a model trained with the null class, at the run's sample.steps and eta
    cfg = run.config()
    cfg.sample.steps, cfg.sample.eta = 7, 0.25
    keys = [s.key for s in declared("diffusion").sweep_settings(run, cfg, {})]
    assert keys == ["s7-e0.25-g1", "s7-e0.25-g1.5", "s7-e0.25-g2", "s7-e0.25-g3"]
    # a GPT run refuses the diffusion axes before anything is loaded
    c = cfgmod.preset("quick")
    c.model.kind = "gpt"
    gpt = Workspace(tmp_path / "ws").create_run("g", c)
    for args in (("--steps", "5"), ("--eta", "0.5", "--steps", "5")):
        res = cli(gpt.workspace, "sweep", "g", *args)
        assert res.exit_code == 2 and "not a sweep axis of run 'g' (model.kind = gpt)" in res.output, res.output
        assert "--temperature, --top-k" in res.output
    with pytest.raises(UserError, match="--eta"):
        run_sweep(gpt, etas="0")


def test_diffusion_heat_tables_lay_out_steps_by_cfg_per_eta(tmp_path):
    """Hand-made: 2 steps × 3 cfg × 2 eta → two panels of 2 × 3, in the PNG, the terminal and the TUI table."""
    from rich.console import Console

    from nfgen_tui.sweep.report import heat_table
    from nfgen_tui.tui.widgets.sweep_panel import heat_rows, summary

    settings, cells, i = [], {}, 0
    for n in (10, 50):
        for e in (0.0, 1.0):
            for g in (1.0, 2.0, 3.0):
                key = f"s{n}-e{e:g}-g{g:g}"
                settings.append({"steps": n, "eta": e, "cfg": g, "key": key})
                cells[key] = {**settings[-1], "nna": 0.5 + 0.01 * i, "classifier_accuracy": 0.9, "mmd": 0.1}
                i += 1
    sweep = {"grid": {"steps": [10, 50], "eta": [0.0, 1.0], "cfg": [1.0, 2.0, 3.0]}, "settings": settings,
             "cells": cells, "best": {"key": "s10-e0-g1", "steps": 10, "eta": 0.0, "cfg": 1.0, "nna": 0.5,
                                      "classifier_accuracy": 0.9}}
    geo = heatmap(sweep, "nna", tmp_path / "h.png")
    assert (geo["rows"], geo["cols"], geo["panels"]) == (2, 3, 2) and len(geo["cells"]) == 12
    assert all(c["value"] == cells[c["key"]]["nna"] for c in geo["cells"])
    console = Console(width=100, record=True)
    console.print(heat_table(sweep, "nna", (1.0,)))
    shown = console.export_text()
    assert "steps \\ cfg" in shown and "eta 1" in shown and "g3" in shown and "0.530" in shown  # s10-e1-g1
    titles, rows, at = heat_rows(sweep, "nna", (1.0,))
    assert titles == ["g1", "g2", "g3"] and [t for t, _ in rows] == [10, 50]
    assert at[(1, 2)]["key"] == "s50-e1-g3"
    assert "10 DDIM steps, eta 0, cfg 1" in summary(sweep)
