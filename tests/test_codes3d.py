"""3D shapes as codes over a shared base (`fields.subspace = k` on the built-in `shapes`, quick3d at tiny sizes): the
codes decode to the stored fields, held-out shapes fit only their code, a kill -9 in the joint phase resumes to the
uninterrupted result, and the code generators (denoiser, ar-diffusion) train, sample meshes and evaluate with the
code-space marginal."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from model_synth import one_thread  # noqa: F401  (autouse)
from test_codes import _copy_fit, code_run
from tiny_runs import kill_9_at_first_joint_checkpoint
from nfgen_tui.cli import app
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.model.space import load_space
from nfgen_tui.tokens.stage import run_codebook
from nfgen_tui.workspace import Workspace

# 2 shapes per class × 12 classes; the joint phase checkpoints at step 50 of 200 (subspace.CKPT_EVERY)
CODES3D = ["data.limit=24", "data.holdout=0.25", "fields.steps=30", "fields.hidden=[8,8]", "fields.chunk_size=8",
           "fields.points_per_step=128", "fields.subspace=6", "fields.subspace_steps=200", "fields.subspace_warm=12",
           "model.kind=diffusion", "diffusion.target=codes", "diffusion.net=mlp", "diffusion.n_layer=2",
           "diffusion.n_embd=32", "diffusion.ema=0.9", "diffusion.iters=20", "diffusion.batch_size=8",
           "train.warmup=5", "train.eval_every=10", "train.ckpt_every=10", "train.class_dropout=0.2",
           "codebook.size=16", "codebook.iters=3", "sample.steps=5", "sample.n_per_class=2", "sample.size=16",
           "eval.set_size=12", "eval.surface_points=64", "eval.classifier_epochs=1", "device=cpu"]


def code3d_run(ws: Workspace, name: str, extra=()):
    return code_run(ws, name, extra, "quick3d", ["data.dataset=shapes", *CODES3D])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    run = code3d_run(Workspace(tmp_path_factory.mktemp("codes3d")), "fitted")
    return run, run_fit(run, device="cpu")


def test_3d_codes_decode_to_the_stored_fields_and_held_out_shapes_fit_only_their_code(fitted):
    run, rep = fitted
    # the free 3D fit's report keys, plus the subspace's split means
    assert rep["modality"] == "occupancy3d" and rep["subspace"] == 6 and not any(k.startswith("psnr") for k in rep)
    for key in ("iou_mean", "iou_p10", "iou_min", "iou_mean_train", "iou_mean_heldout"):
        assert 0.0 <= rep[key] <= 1.0, key
    assert rep["iou_mean_train"] > 0.2  # 6 dims, 200 steps of 128 points: plumbing, not quality
    fdir = run.stage_dir("fit")
    stored = load_file(str(fdir / "weights.safetensors"))
    assert "iou" in stored and "psnr" not in stored
    layout = json.loads((fdir / "layout.json").read_text())
    assert (layout["dim"], layout["target"]) == (3, "occupancy")
    space = load_space(run, "codes")
    assert space.x.shape == (24, 6) and torch.equal(space.decode(space.x), stored["weights"])
    # held-out shapes leave the base and the training codes as the joint phase ended them
    joint = load_file(str(fdir / "subspace_state.safetensors"))
    final = load_file(str(fdir / "subspace.safetensors"))
    assert int(joint["step"]) == 200
    assert torch.equal(joint["basis"], final["basis"]) and torch.equal(joint["mu"], final["mu"])
    held = stored["split"] == 1
    assert 0 < held.sum() < 24 and (final["c"][held].abs().sum(1) > 0).all()
    assert torch.equal(final["c"][~held], joint["c"])
    # and the IoU stored per field is the modality's score of the decoded field
    from nfgen_tui.fields.fit_files import load_layout
    from nfgen_tui.modality import for_layout

    mod = for_layout(load_layout(run))
    data = mod.load(run.config(), run.workspace.datasets_dir)
    assert torch.equal(mod.score(stored["weights"], load_layout(run), data, "cpu"), stored["iou"])


def test_3d_subspace_fit_resumes_after_kill_9_in_the_joint_phase_bit_identical(fitted, tmp_path):
    ref, _ = fitted
    wsk = Workspace(tmp_path / "k")
    run = code3d_run(wsk, "fitted")
    # the built-in shapes are made once per datasets folder: share the module's, so the child starts fitting at once
    os.symlink(ref.workspace.datasets_dir, wsk.datasets_dir)
    kill_9_at_first_joint_checkpoint(run)  # step 50 of 200
    assert int(load_file(str(run.stage_dir("fit") / "subspace_state.safetensors"))["step"]) < 200
    run_fit(run, device="cpu")
    for name in ("weights.safetensors", "subspace.safetensors"):
        a = load_file(str(ref.stage_dir("fit") / name))
        b = load_file(str(run.stage_dir("fit") / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def _in_subspace(run, w: torch.Tensor) -> bool:
    sub = load_file(str(run.stage_dir("fit") / "subspace.safetensors"))
    delta = (w - sub["w0"] - sub["mu"]).double()
    basis = sub["basis"].double()
    fit = basis @ torch.linalg.lstsq(basis, delta.T).solution
    return bool((fit.T - delta).abs().max() < 1e-4 * delta.abs().max())


def test_a_denoiser_on_3d_codes_trains_samples_meshes_and_evals_with_the_code_marginal(fitted):
    from nfgen_tui.model.diffusion.stage import run_sample, run_train

    ws = fitted[0].workspace
    run = code3d_run(ws, "d")
    _copy_fit(fitted[0], run)
    assert run_train(run)["step"] == 20
    out = run_sample(run)
    folder = run.stage_dir("sample") / out["id"]
    w = load_file(str(folder / "weights.safetensors"))["weights"]
    assert w.shape == (24, 281) and torch.isfinite(w).all() and _in_subspace(run, w)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["modality"] == "occupancy3d" and len(list((folder / "meshes").glob("*.obj"))) == 24
    assert np.load(folder / "views.npy").shape == (24, 4, 64, 64)
    run_codebook(run, device="cpu")  # the weight-token marginal baseline needs tokens
    res = CliRunner().invoke(app, ["--workspace", str(ws.root), "eval", "d", "--json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.stdout)
    assert set(ev["baselines"]) == {"held-out real", "marginal", "marginal codes", "train + noise"}
    assert "Chamfer" in ev["distance"]
    for row in ev["baselines"].values():
        assert 0 <= row["cov"] <= 1 and 0 <= row["nna"] <= 1 and row["mmd"] > 0


def test_ar_diffusion_on_3d_codes_trains_samples_fields_of_the_subspace_and_evals(fitted):
    from nfgen_tui.model.ar_diffusion.stage import run_sample, run_train

    ws = fitted[0].workspace
    run = code3d_run(ws, "ar", ["model.kind=ar-diffusion", "ar.target=codes", "ar.chunk=2", "ar.n_layer=1",
                                "ar.n_head=2", "ar.n_embd=32", "ar.head_blocks=1", "ar.head_width=32",
                                "ar.noise_draws=2", "ar.iters=10", "ar.batch_size=8"])
    _copy_fit(fitted[0], run)
    assert run_train(run)["step"] == 10
    out = run_sample(run)  # the default sample, the one eval scores
    folder = run.stage_dir("sample") / out["id"]
    w = load_file(str(folder / "weights.safetensors"))["weights"]
    assert w.shape == (24, 281) and torch.isfinite(w).all() and _in_subspace(run, w)
    assert len(list((folder / "meshes").glob("*.obj"))) == 24
    run_codebook(run, device="cpu")  # the whole 3D pipeline: eval with every baseline, as for the denoiser
    res = CliRunner().invoke(app, ["--workspace", str(ws.root), "eval", "ar", "--json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.stdout)
    assert set(ev["baselines"]) == {"held-out real", "marginal", "marginal codes", "train + noise"}
    assert 0 < ev["n_generated"] == ev["n_reference"] and 0 <= ev["nna"] <= 1 and ev["mmd"] > 0
