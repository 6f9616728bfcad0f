"""Fields as codes over a shared base (`fields.subspace = k`) and the denoiser that generates the codes
(`diffusion.target = codes`, `diffusion.net = mlp`, `diffusion.ema`), at tiny sizes on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui import config as cfgmod
from nfgen_tui.cli import app
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.stages.evaluate import run_eval
from nfgen_tui.model.diffusion.stage import load_trained, run_sample, run_train
from nfgen_tui.model.space import load_space
from nfgen_tui.tokens.stage import run_codebook
from nfgen_tui.workspace import Workspace

CODES = ["model.kind=diffusion", "data.limit=60", "data.holdout=0.25", "fields.hidden=[8,8]", "fields.steps=20",
         "fields.subspace=6", "fields.subspace_steps=30", "fields.subspace_warm=12", "fields.chunk_size=30",
         "codebook.size=16", "codebook.iters=3", "diffusion.n_layer=2", "diffusion.n_embd=32", "diffusion.ema=0.9",
         "diffusion.iters=40", "diffusion.batch_size=16", "diffusion.lr=3e-3", "train.warmup=5",
         "train.eval_every=10", "train.ckpt_every=10", "train.log_every=1", "train.class_dropout=0.2",
         "sample.steps=8", "sample.n_per_class=3", "eval.set_size=24", "eval.classifier_epochs=1", "device=cpu"]


def code_run(ws: Workspace, name: str, extra=(), preset: str = "quick", base=CODES):
    c = cfgmod.apply_overrides(cfgmod.preset(preset), [*base, *extra])
    return ws.create_run(name, c)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("codes"))


@pytest.fixture(scope="module")
def fitted(ws):
    run = code_run(ws, "fitted")
    run_fit(run, device="cpu")
    return run


def _copy_fit(src, dst):
    import shutil

    shutil.copytree(src.stage_dir("fit"), dst.stage_dir("fit"), dirs_exist_ok=True)


def test_codes_decode_to_the_stored_weights_and_held_out_fields_fit_only_their_code(fitted):
    space = load_space(fitted, "codes")
    stored = load_file(str(fitted.stage_dir("fit") / "weights.safetensors"))
    assert space.x.shape == (60, 6) and torch.equal(space.decode(space.x), stored["weights"])
    # the held-out fits leave the base as the joint phase ended it: B and μ are the training split's alone
    joint = load_file(str(fitted.stage_dir("fit") / "subspace_state.safetensors"))
    final = load_file(str(fitted.stage_dir("fit") / "subspace.safetensors"))
    assert int(joint["step"]) == 30
    assert torch.equal(joint["basis"], final["basis"]) and torch.equal(joint["mu"], final["mu"])
    held = stored["split"] == 1
    assert 0 < held.sum() < 60 and (final["c"][held].abs().sum(1) > 0).all()
    # normalised per coordinate over the training codes
    z = (space.x[space.train] - space.mean) / space.std
    assert torch.allclose(z.mean(0), torch.zeros(6), atol=1e-5) and torch.allclose(z.std(0, unbiased=False),
                                                                                    torch.ones(6), atol=1e-4)


def test_code_denoiser_learns_resumes_exactly_and_samples_its_moving_average(ws, fitted):
    a = code_run(ws, "a")
    _copy_fit(fitted, a)
    run_train(a, iters=20)
    res = run_train(a)  # resumes at 20, the moving average with it
    assert res["step"] == 40
    curve = {e["step"]: e["loss"] for e in a.events("train")[0] if "loss" in e}
    first, last = np.mean([curve[s] for s in range(1, 6)]), np.mean([curve[s] for s in range(31, 41)])
    assert first > 0.8 and last < 0.8 * first, (first, last)  # x0-MSE of unit-variance codes starts near 1
    b = code_run(ws, "b")
    _copy_fit(fitted, b)
    run_train(b)
    ta = load_file(str(a.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(b.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert ta.keys() == tb.keys() and {"mean", "std", "ema.p0"} <= set(ta)
    for k in ta:
        assert torch.allclose(ta[k], tb[k], atol=1e-6), k
    # the average differs from the last weights, and it is what sampling loads
    assert not torch.equal(ta["ema.p0"], ta["inp.weight"])
    model, _, state = load_trained(a, torch.device("cpu"))
    assert state["model"]["net"] == "mlp" and state["model"]["target"] == "codes"
    assert torch.equal(model.inp.weight, ta["ema.p0"])


def test_a_code_run_samples_fields_and_eval_adds_the_code_marginal(ws, fitted):
    run = code_run(ws, "s")
    _copy_fit(fitted, run)
    run_train(run)
    out = run_sample(run)
    folder = run.stage_dir("sample") / out["id"]
    w = load_file(str(folder / "weights.safetensors"))["weights"]
    assert w.shape == (30, 217) and torch.isfinite(w).all()
    # every sampled field lies in the shared subspace: w − w0 − μ is B times some code
    sub = load_file(str(run.stage_dir("fit") / "subspace.safetensors"))
    delta = (w - sub["w0"] - sub["mu"]).double()
    basis = sub["basis"].double()
    fit = basis @ torch.linalg.lstsq(basis, delta.T).solution
    assert (fit.T - delta).abs().max() < 1e-4 * delta.abs().max()
    images = np.load(folder / "images.npy")
    assert images.shape == (30, 28, 28) and images.std() > 0
    run_codebook(run, device="cpu")  # the weight-token marginal baseline needs tokens
    res = CliRunner().invoke(app, ["--workspace", str(ws.root), "eval", "s", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert set(result["baselines"]) == {"held-out real", "marginal", "marginal codes", "train + noise"}
    for row in result["baselines"].values():
        assert 0 <= row["cov"] <= 1 and 0 <= row["nna"] <= 1 and row["mmd"] > 0
    assert result["memorization_quantiles"]["p50"] > 0


def test_free_fields_get_no_code_marginal_and_old_checkpoints_sample_unchanged(workspace):
    from test_diffusion import TINY_DIFFUSION

    run = workspace.create_run("old", cfgmod.apply_overrides(cfgmod.preset("quick"), TINY_DIFFUSION))
    run_fit(run, device="cpu")
    run_train(run)
    first = run_sample(run, n=2, steps=4)
    before = load_file(str(run.stage_dir("sample") / first["id"] / "weights.safetensors"))["weights"]
    # a checkpoint written before the net / target / ema keys existed: its state.json lacks them
    path = run.stage_dir("train") / "ckpt" / "state.json"
    state = json.loads(path.read_text())
    for key in ("net", "target", "ema"):
        del state["model"][key]
    path.write_text(json.dumps(state))
    import shutil

    shutil.rmtree(run.stage_dir("sample"))
    again = run_sample(run, n=2, steps=4)
    after = load_file(str(run.stage_dir("sample") / again["id"] / "weights.safetensors"))["weights"]
    assert again["id"] == first["id"] and torch.equal(before, after)
    from nfgen_tui.stages.evaluate import code_marginal
    from nfgen_tui.tokens.stage import load_fields

    _, labels, split, _ = load_fields(run)
    assert code_marginal(run, labels, split) is None


def test_codes_without_a_subspace_are_refused_at_init(tmp_path):
    res = CliRunner().invoke(app, ["--workspace", str(tmp_path), "init", "x", "--set", "fields.subspace=0"])
    assert res.exit_code == 2 and "diffusion.target" in res.output and "fields.subspace" in res.output, res.output
    assert not (tmp_path / "runs" / "x").exists()
