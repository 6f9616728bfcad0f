"""The autoregressive generator over continuous tokens (model.kind = ar-diffusion): the head's diffusion loss falls
on real fitted codes, resume equals an uninterrupted run, the KV cache and guidance at scale 1 change nothing, and
the whole 2D pipeline runs, at tiny sizes on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from float_bounds import assert_adam_twins, lr_total
from model_synth import one_thread  # noqa: F401  (autouse)
from test_codes import _copy_fit
from nfgen_tui import config as cfgmod
from nfgen_tui.cli import app
from nfgen_tui.errors import UserError
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.model.ar_diffusion.sample import sample_vectors
from nfgen_tui.model.ar_diffusion.stage import load_trained, run_sample, run_train
from nfgen_tui.model.generator import GENERATORS
from nfgen_tui.model.train import warmup_cosine_lr
from nfgen_tui.workspace import Workspace

AR = ["model.kind=ar-diffusion", "data.limit=60", "data.holdout=0.25", "fields.hidden=[8,8]", "fields.steps=20",
      "fields.subspace=6", "fields.subspace_steps=30", "fields.subspace_warm=12", "fields.chunk_size=30",
      "ar.chunk=4", "ar.n_layer=2", "ar.n_head=2", "ar.n_embd=32", "ar.head_blocks=2", "ar.head_width=32",
      "ar.noise_draws=2", "ar.ema=0.9", "ar.iters=40", "ar.batch_size=16", "ar.lr=3e-3", "train.warmup=5",
      "train.eval_every=10", "train.ckpt_every=10", "train.log_every=1", "train.class_dropout=0.2",
      "sample.steps=8", "sample.n_per_class=3", "eval.set_size=24", "eval.classifier_epochs=1", "device=cpu"]


def ar_run(ws: Workspace, name: str, extra=()):
    return ws.create_run(name, cfgmod.apply_overrides(cfgmod.preset("quick"), [*AR, *extra]))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("ar"))


@pytest.fixture(scope="module")
def fitted(ws):
    run = ar_run(ws, "fitted")
    run_fit(run, device="cpu")
    return run


@pytest.fixture(scope="module")
def trained(ws, fitted):
    """Trained to 20, then resumed to 40 (the interrupted twin of `straight`)."""
    run = ar_run(ws, "a")
    _copy_fit(fitted, run)
    run_train(run, iters=20)
    assert run_train(run)["step"] == 40
    return run


def test_the_heads_loss_falls_and_resume_equals_an_uninterrupted_run(ws, fitted, trained):
    curve = {e["step"]: e["loss"] for e in trained.events("train")[0] if "loss" in e}
    first, last = np.mean([curve[s] for s in range(1, 6)]), np.mean([curve[s] for s in range(31, 41)])
    assert first > 0.5 and last < 0.8 * first, (first, last)  # x0-MSE of unit-variance codes starts near 1
    straight = ar_run(ws, "b")
    _copy_fit(fitted, straight)
    run_train(straight)
    ta = load_file(str(trained.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(straight.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert ta.keys() == tb.keys() and {"mean", "std", "ema.p0"} <= set(ta)
    # the attention's key bias has a gradient of rounding alone (softmax ignores it), which Adam turns into whole
    # steps: the bound of two Adam twins (float_bounds.py); everything else agrees to float precision
    a = trained.config().ar
    assert_adam_twins(ta, tb, lr_total(lambda s: warmup_cosine_lr(s, a.lr, a.min_lr, 5, a.iters), a.iters))
    for k in ta:
        if "qkv.bias" not in k and not k.startswith("ema."):
            assert torch.allclose(ta[k], tb[k], atol=1e-6), k
    state = json.loads((trained.stage_dir("train") / "ckpt" / "state.json").read_text())
    assert state["kind"] == "ar-diffusion" and state["model"]["chunk"] == 4 and state["model"]["n_params"] == 6
    report = json.loads((trained.stage_dir("train") / "report.json").read_text())
    assert report["kind"] == "ar-diffusion" and report["step"] == 40 and report["val_loss"] > 0


def test_a_kv_cached_sample_equals_a_recomputed_one(trained):
    model, _ = load_trained(trained, torch.device("cpu"))
    assert model.cfg.n_tokens == 2  # 6 numbers in tokens of 4: the last one padded
    labels = torch.tensor([0, 3, 7, 9])
    for cfg in (1.0, 2.0):
        cached = sample_vectors(model, labels, 6, eta=0.5, cfg=cfg, temperature=0.9, seed=5)
        recomputed = sample_vectors(model, labels, 6, eta=0.5, cfg=cfg, temperature=0.9, seed=5, use_cache=False)
        assert cached.shape == (4, 6) and torch.isfinite(cached).all()
        assert torch.allclose(cached, recomputed, atol=1e-5), (cfg, (cached - recomputed).abs().max())
    again = sample_vectors(model, labels, 6, eta=0.5, cfg=2.0, temperature=0.9, seed=5)
    other = sample_vectors(model, labels, 6, eta=0.5, cfg=2.0, temperature=0.9, seed=6)
    assert torch.equal(cached, again) and not torch.allclose(cached, other)


def test_guidance_at_scale_1_is_the_conditional_sample_and_temperature_narrows_it(trained):
    model, _ = load_trained(trained, torch.device("cpu"))
    labels = torch.tensor([1, 1, 4, 4])
    plain = sample_vectors(model, labels, 6, cfg=1.0, seed=3)
    with_null_rows = sample_vectors(model, labels, 6, cfg=1.0, seed=3, null_rows=True)
    assert torch.allclose(plain, with_null_rows, atol=1e-5)
    guided = sample_vectors(model, labels, 6, cfg=3.0, seed=3)
    assert not torch.allclose(plain, guided, atol=1e-3)
    labels = torch.full((64,), 2)
    wide = sample_vectors(model, labels, 6, temperature=1.0, seed=1)
    narrow = sample_vectors(model, labels, 6, temperature=0.3, seed=1)
    assert narrow.std(0).mean() < wide.std(0).mean()


def test_samples_are_fields_of_the_subspace_stored_like_every_generators(trained):
    out = run_sample(trained, digit=None, n=2, steps=5, temperature=0.8, cfg=1.5)
    assert out["id"] == "all-n2-ar5-eta0-t0.8-cfg1.5-s0-px28-step40"
    folder = trained.stage_dir("sample") / out["id"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kind"] == "ar-diffusion" and meta["temperature"] == 0.8 and meta["cfg"] == 1.5 and meta["n"] == 20
    w = load_file(str(folder / "weights.safetensors"))["weights"]
    sub = load_file(str(trained.stage_dir("fit") / "subspace.safetensors"))
    delta = (w - sub["w0"] - sub["mu"]).double()
    basis = sub["basis"].double()
    fit = basis @ torch.linalg.lstsq(basis, delta.T).solution
    assert w.shape == (20, 217) and (fit.T - delta).abs().max() < 1e-4 * delta.abs().max()
    assert np.load(folder / "images.npy").std() > 0
    assert run_sample(trained, n=2, steps=5, temperature=0.8, cfg=1.5)["cached"]
    with pytest.raises(UserError, match="--top-k is a GPT setting; run 'a' has a generator over continuous tokens"):
        GENERATORS["ar-diffusion"].run_sample(trained, top_k=3)
    with pytest.raises(UserError, match=r"--steps must be <= ar.timesteps \(500\)"):
        run_sample(trained, steps=501)


def test_the_2d_pipeline_runs_and_eval_has_every_baseline(tmp_path):
    sets = [a for kv in AR for a in ("--set", kv)]
    runner = CliRunner()
    res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "p", "--preset", "quick", *sets])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--workspace", str(tmp_path), "pipeline", "p", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["train"]["step"] == 40 and result["sample"]["n"] == 30
    ev = result["eval"]
    assert {"held-out real", "marginal codes", "train + noise"} <= set(ev["baselines"])
    assert 0 <= ev["cov"] <= 1 and 0 <= ev["nna"] <= 1 and ev["n_generated"] > 0


def test_its_keys_are_checked_naming_the_key(tmp_path):
    runner = CliRunner()
    for kv, key in (("ar.chunk=0", "ar.chunk"), ("ar.n_embd=30", "ar.n_embd"), ("ar.target=pixels", "ar.target"),
                    ("ar.ema=1", "ar.ema"), ("ar.noise_draws=0", "ar.noise_draws")):
        res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "x", "--set", "model.kind=ar-diffusion",
                                  "--set", kv])
        assert res.exit_code == 2 and f"config {key}:" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "x", "--set", "model.kind=ar-diffusion",
                              "--set", "fields.subspace=0"])
    assert res.exit_code == 2 and "ar.target" in res.output and "fields.subspace" in res.output, res.output


def test_its_sweep_grids_temperature_head_steps_and_cfg_and_draws_its_tables(trained):
    import io

    from rich.console import Console

    from nfgen_tui.sweep.grid import cell_label, panel_title, panels, table_axes
    from nfgen_tui.sweep.report import print_sweep, write_pictures
    from nfgen_tui.sweep.stage import run_sweep

    with pytest.raises(UserError, match="--top-k: not a sweep axis of run 'a'"):
        run_sweep(trained, top_ks="1,3")
    sweep = run_sweep(trained, temperatures="0.8,1", cfgs="1,2", steps="4", n_per_class=2)
    assert sweep["complete"] and sweep["grid"] == {"temperature": [0.8, 1.0], "steps": [4], "eta": [0.0],
                                                   "cfg": [1.0, 2.0]}
    assert list(sweep["cells"]) == ["ar-t0.8-s4-e0-g1", "ar-t0.8-s4-e0-g2", "ar-t1-s4-e0-g1", "ar-t1-s4-e0-g2"]
    assert sweep["identity"]["kind"] == "ar-diffusion" and set(sweep["best"]) >= {"temperature", "steps", "cfg"}
    axes = table_axes(sweep)
    assert (axes.row, axes.col, axes.panel) == ("temperature", "cfg", ("steps", "eta"))
    assert panels(sweep) == [(4, 0.0)] and panel_title(sweep, (4, 0.0)) == "4 head steps"
    assert cell_label(sweep["cells"]["ar-t1-s4-e0-g2"]) == "T1 4 steps g2"
    paths = write_pictures(trained, sweep)
    assert all(p.endswith(".png") for p in paths["heatmaps"].values())
    out = io.StringIO()
    print_sweep(sweep, Console(file=out, width=120))
    assert "T \\ cfg" in out.getvalue() and "best: temperature" in out.getvalue()


def test_torchrun_matches_one_process_and_sigterm_checkpoints(ws, fitted):
    """Two gloo ranks split each global batch (and its draws) and train what one process trains; SIGTERM in the
    middle of training writes a checkpoint and ends as an interruption."""
    import subprocess
    import sys

    from test_diffusion import _subprocess_env
    from test_model_train import REPO, losses, sigterm_after

    one = ar_run(ws, "one", ["ar.iters=4", "ar.batch_size=8"])
    ddp = ar_run(ws, "ddp", ["ar.iters=4", "ar.batch_size=8"])
    for run in (one, ddp):
        _copy_fit(fitted, run)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "nfgen_tui.cli", "train", "ddp", "--json"], env=_subprocess_env(ws), cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run_train(one)
    a, b = losses(ddp), losses(one)
    assert sorted(a) == [1, 2, 3, 4] and all(a[s] == pytest.approx(b[s], rel=1e-5) for s in a), (a, b)
    ta = load_file(str(ddp.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(one.stage_dir("train") / "ckpt" / "model.safetensors"))
    c = one.config().ar
    assert_adam_twins(ta, tb, lr_total(lambda s: warmup_cosine_lr(s, c.lr, c.min_lr, 5, c.iters), 4))

    long = ar_run(ws, "long", ["ar.iters=100000", "train.ckpt_every=100000"])
    _copy_fit(fitted, long)
    state = sigterm_after(long, _subprocess_env(ws), 3, 180)
    assert state["kind"] == "ar-diffusion" and state["step"] == max(losses(long)) >= 3
    assert long.stage_state("train") == "interrupted"
