"""A 3D run (the built-in `shapes`, quick3d preset at tiny sizes) through every stage: the modality is recorded,
codebook / GPT run unchanged, samples are meshes with views, eval scores shapes by Chamfer; kill -9 in fit and train
then a rerun equals the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from safetensors.torch import load_file

from test_pipeline import finished_pipeline, pipeline_args, runner, spawn_pipeline, wait_for_event
from nfgen_tui.cli import app

TINY3D = ["model.kind=gpt", "data.limit=24", "data.holdout=0.25", "fields.steps=30", "fields.hidden=[8,8]", "fields.subspace=0", "diffusion.target=weights", "fields.chunk_size=8",
          "fields.points_per_step=128", "codebook.size=16", "codebook.iters=3", "model.n_layer=1", "model.n_head=2",
          "model.n_embd=32", "train.iters=30", "train.eval_every=10", "train.ckpt_every=5", "train.log_every=5",
          "sample.n_per_class=2", "sample.size=16", "eval.set_size=12", "eval.surface_points=64",
          "eval.classifier_epochs=1", "device=cpu"]


HEAD3D = ("--preset", "quick3d", "--dataset", "shapes")


def pipeline3d(ws, run="s3"):
    return runner.invoke(app, pipeline_args(ws, run, TINY3D, HEAD3D))


def spawn3d(ws, run="s3"):
    return spawn_pipeline(ws, run, TINY3D, HEAD3D)


@pytest.fixture(scope="module")
def finished3d(tmp_path_factory):
    return finished_pipeline(tmp_path_factory, pipeline3d, "ws3d")


def test_a_3d_run_goes_through_every_stage(finished3d):
    ws, result = finished3d
    run = ws.run("s3")
    assert run.states() == {s: "done" for s in ("fit", "codebook", "train", "sample", "eval")}
    layout = json.loads((run.dir / "fields" / "layout.json").read_text())
    assert (layout["dim"], layout["target"]) == (3, "occupancy") and layout["layers"][0]["n_in"] == 24
    fit = result["fit"]
    assert fit["modality"] == "occupancy3d" and 0.0 <= fit["iou_mean"] <= 1.0 and "psnr_mean" not in fit
    assert "iou" in load_file(str(run.dir / "fields" / "weights.safetensors"))
    book = json.loads((run.dir / "codebook" / "report.json").read_text())
    assert book["quality"] == "iou" and "iou_quantized_mean" in book and book["mode"] == "group:4"
    # samples: one .obj and one .ply per shape, 4 shaded views each, a PNG grid
    folder = run.dir / "samples" / result["sample"]["id"]
    meta = json.loads((folder / "meta.json").read_text())
    n = meta["n"]
    assert n == 2 * 12 and meta["modality"] == "occupancy3d"
    assert len(list((folder / "meshes").glob("*.obj"))) == n == len(list((folder / "meshes").glob("*.ply")))
    views = np.load(folder / "views.npy")
    assert views.shape == (n, 4, 64, 64) and views.dtype == np.uint8
    assert (folder / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with_faces = [p for p in sorted((folder / "meshes").glob("*.obj")) if "\nf " in p.read_text()]
    assert len(with_faces) == n - meta["empty_meshes"]
    # eval: the same keys as 2D, Chamfer distances, the three baselines
    ev = result["eval"]
    for key in ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "memorization_rate"):
        assert key in ev
    assert set(ev["baselines"]) == {"held-out real", "marginal", "train + noise"}
    assert ev["mmd"] >= 0 and 0 <= ev["cov"] <= 1 and 0 <= ev["nna"] <= 1 and "Chamfer" in ev["distance"]
    assert ev["surface_points"] == 64 and ev["n_generated"] == ev["n_reference"]


def test_a_3d_diffusion_run_writes_meshes_and_scores_them(finished3d):
    """model.kind = diffusion on the same fitted shapes: the denoiser sees neuron tokens of occupancy fields and its
    samples go through the same modality seam (meshes, views, Chamfer eval) as the GPT's."""
    import shutil

    ws, gpt = finished3d
    args = ["--workspace", str(ws.root), "init", "d3", "--preset", "quick3d", "--dataset", "shapes"]
    for o in TINY3D + ["model.kind=diffusion", "diffusion.n_layer=1", "diffusion.n_head=2", "diffusion.n_embd=32",
                       "diffusion.iters=20", "diffusion.batch_size=8", "sample.steps=5"]:
        args += ["--set", o]
    assert runner.invoke(app, args).exit_code == 0
    for part in ("fields", "codebook"):  # the GPT run's fields: the two generators see the same shapes
        shutil.copytree(ws.run("s3").dir / part, ws.run("d3").dir / part)
    r = runner.invoke(app, ["--workspace", str(ws.root), "pipeline", "d3", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["train"]["step"] == 20
    assert json.loads((ws.run("d3").stage_dir("train") / "report.json").read_text())["kind"] == "diffusion"
    folder = ws.run("d3").dir / "samples" / got["sample"]["id"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["n"] == 24 and meta["modality"] == "occupancy3d"
    assert len(list((folder / "meshes").glob("*.obj"))) == 24
    assert np.load(folder / "views.npy").shape == (24, 4, 64, 64)
    ev = got["eval"]
    assert "Chamfer" in ev["distance"] and ev["n_generated"] == ev["n_reference"]
    # the baselines depend on the fields and codebook only, so they equal the GPT run's
    for name, row in ev["baselines"].items():
        assert row["mmd"] == pytest.approx(gpt["eval"]["baselines"][name]["mmd"], rel=1e-6)
    # the same training shapes: the GPT run's eval trained the 3D classifier, this one loads it from the workspace
    assert gpt["eval"]["classifier"]["cached"] is False and ev["classifier"]["cached"] is True
    assert ev["classifier"]["dir"] == gpt["eval"]["classifier"]["dir"]
    assert ev["classifier"]["accuracy"] == gpt["eval"]["classifier"]["accuracy"]


@pytest.mark.parametrize("stage, when", [
    # the first chunk's progress: two more chunks to go, so the kill lands inside the stage however fast the CPU
    ("fit", lambda e: e.get("stage") == "fit" and e.get("chunk") == 0),
    ("train", lambda e: e.get("stage") == "train" and e.get("step", 0) >= 12 and "loss" in e),
])
def test_kill_9_mid_3d_stage_then_rerun_matches(finished3d, workspace, stage, when):
    ws_ref, ref = finished3d
    proc = spawn3d(workspace)
    try:
        wait_for_event(workspace.run("s3").dir, when, proc, timeout=400)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert workspace.run("s3").stage_state(stage) == "interrupted"
    r = pipeline3d(workspace)
    assert r.exit_code == 0, r.output
    a = load_file(str(ws_ref.run("s3").dir / "fields" / "weights.safetensors"))
    b = load_file(str(workspace.run("s3").dir / "fields" / "weights.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)  # 3D fitting is deterministic too: bit-identical after a resume
    got = json.loads(r.stdout)
    assert got["train"]["step"] == ref["train"]["step"] == 30
    assert got["train"]["loss"] == pytest.approx(ref["train"]["loss"], abs=1e-4)
    assert got["eval"]["mmd"] == pytest.approx(ref["eval"]["mmd"], rel=1e-4)


async def test_generate_screen_shows_3d_shapes_and_turns_them(finished3d):
    from test_tui import settle, wait_for
    from nfgen_tui.tui.app import NfgenApp
    from nfgen_tui.tui.widgets.digit_grid import DigitGrid

    ws, _ = finished3d
    app = NfgenApp(ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot, 0.2)
        screen = app.screen
        grid = screen.query_one("#gen-grid", DigitGrid)
        caption = lambda: str(grid.query_one(".grid-caption").render())  # noqa: E731
        assert await wait_for(pilot, lambda: grid.query_one(".grid-image").image is not None and "view" in caption())
        assert "24 shapes, 2 per class" in caption() and "view 30°" in caption()
        screen.set_focus(None)
        await pilot.press("right")
        assert await wait_for(pilot, lambda: "view 120°" in caption())
        await pilot.press("left", "left")
        assert await wait_for(pilot, lambda: "view 300°" in caption())  # turning wraps around


async def test_generate_class_picker_offers_the_shapes_classes_and_samples_one(finished3d):
    from textual.widgets import Input, Select

    from test_tui import settle, wait_for
    from nfgen_tui.data import shapes
    from nfgen_tui.model.generator import class_names
    from nfgen_tui.tui.app import NfgenApp
    from nfgen_tui.tui.widgets.digit_grid import DigitGrid

    ws, _ = finished3d
    assert class_names(ws.run("s3")) == list(shapes.CLASSES)  # the codebook's 12 classes, named by the dataset
    app = NfgenApp(ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot, 0.2)
        screen = app.screen
        picker = screen.query_one("#gen-digit", Select)
        assert await wait_for(pilot, lambda: len(picker._options) == 1 + len(shapes.CLASSES))
        assert [str(label) for label, _ in picker._options] == ["all", *shapes.CLASSES]
        assert str(screen.query_one("#gen-digit-label").render()) == "class"
        assert str(screen.query_one("#gen-n-label").render()) == "count per class"
        cone = list(shapes.CLASSES).index("cone")
        picker.value = str(cone)
        screen.query_one("#gen-n", Input).value = "1"
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: not screen.busy, 120)
        folder = max((ws.run("s3").dir / "samples").glob("*/meta.json"), key=lambda p: p.stat().st_mtime).parent
        meta = json.loads((folder / "meta.json").read_text())
        assert (meta["digit"], meta["labels"]) == (cone, [cone])
        caption = screen.query_one("#gen-grid", DigitGrid).query_one(".grid-caption")
        assert await wait_for(pilot, lambda: "1 × cone" in str(caption.render()))
