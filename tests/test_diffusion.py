"""The weight-space diffusion generator (model.kind = diffusion): the noise schedule, the token split, the x0 loss
on real fitted fields, DDIM determinism, resume, the sample files, and the user errors around kinds and guidance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from float_bounds import assert_adam_twins, lr_total
from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui import config as cfgmod
from nfgen_tui.cli import app
from nfgen_tui.fields.layout import LayerSpec, Layout
from nfgen_tui.model.diffusion.sample import ddim_sample
from nfgen_tui.model.schedule import Schedule
from nfgen_tui.model.diffusion.stage import load_trained, run_sample, run_train
from nfgen_tui.model.diffusion.tokens import from_tokens, to_tokens, token_index
from nfgen_tui.model.train import warmup_cosine_lr
from tiny_runs import TINY_TRAINED, trained_run

TINY_DIFFUSION = ["model.kind=diffusion", "data.limit=150", "data.holdout=0.2", "fields.steps=20",
                  "fields.hidden=[8,8]", "fields.subspace=0", "diffusion.target=weights", "diffusion.net=transformer",
                  "diffusion.ema=0", "diffusion.n_layer=1", "diffusion.n_head=2", "diffusion.n_embd=32",
                  "diffusion.iters=20", "diffusion.batch_size=16", "train.warmup=5", "train.eval_every=10",
                  "train.ckpt_every=10", "train.log_every=1", "sample.steps=10", "device=cpu"]


def fitted_run(workspace, overrides: list[str], name: str = "d"):
    """A diffusion run with its fields fitted (the diffusion generator needs no codebook)."""
    from nfgen_tui.stages.fit import run_fit

    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, TINY_DIFFUSION + overrides)
    run = workspace.create_run(name, c)
    run_fit(run, device="cpu")
    return run


def cli(workspace, *args):
    return CliRunner().invoke(app, ["--workspace", str(workspace.root), *args])


def test_q_sample_has_the_forward_process_statistics():
    s = Schedule(500, 1e-4, 2e-2)
    assert float(s.alpha_bar[0]) == pytest.approx(1 - 1e-4)
    assert float(s.alpha_bar[-1]) == pytest.approx(np.prod(1 - np.linspace(1e-4, 2e-2, 500)), rel=1e-9)
    assert float(s.alpha_bar[-1]) < 0.01  # at T the weights are almost pure noise
    x0 = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    g = torch.Generator().manual_seed(0)
    for t in (0, 100, 499):
        ab = float(s.alpha_bar[t])
        draws = torch.stack([s.q_sample(x0, torch.full((2,), t), torch.randn(2, 3, generator=g)) for _ in range(4000)])
        assert torch.allclose(draws.mean(0), ab ** 0.5 * x0, atol=0.05), t
        assert torch.allclose(draws.var(0), torch.full_like(x0, 1 - ab), atol=max(0.01, 0.08 * (1 - ab))), t


def test_every_split_covers_each_weight_once_and_round_trips():
    layout = Layout("relu-pe", [LayerSpec(4, 3), LayerSpec(3, 2, bias=False), LayerSpec(2, 1)])
    P = layout.n_params  # 15 + 6 + 3
    flat = torch.arange(2 * P, dtype=torch.float32).view(2, P)
    for split, shape in (("neuron", (6, 5)), ("layer", (3, 15)), ("chunk:5", (5, 5)), ("chunk:30", (1, 24))):
        index = token_index(layout, split)
        assert tuple(index.shape) == shape, split
        real = index[index < P]
        assert sorted(real.tolist()) == list(range(P)), split
        tokens = to_tokens(flat, index)
        assert (tokens[:, index == P] == 0).all()
        assert torch.equal(from_tokens(tokens, index, P), flat), split
    assert token_index(layout, "neuron")[3].tolist() == [15, 16, 17, 24, 24]  # a bias-free neuron: 3 weights + padding


def test_x0_loss_goes_down_and_resume_equals_uninterrupted(workspace):
    a = fitted_run(workspace, ["diffusion.iters=60", "diffusion.lr=3e-3"], name="a")
    run_train(a, iters=30)
    assert json.loads((a.stage_dir("train") / "ckpt" / "state.json").read_text())["kind"] == "diffusion"
    res = run_train(a)  # resumes at 30
    assert res["step"] == 60
    curve = {e["step"]: e["loss"] for e in a.events("train")[0] if "loss" in e}
    assert sorted(curve) == list(range(1, 61))
    first, last = np.mean([curve[s] for s in range(1, 6)]), np.mean([curve[s] for s in range(51, 61)])
    assert first > 0.9 and last < 0.75 * first, (first, last)  # the x0-MSE starts at the data's variance (1)
    report = json.loads((a.stage_dir("train") / "report.json").read_text())
    assert report["kind"] == "diffusion" and report["val_loss"] < 0.9

    b = fitted_run(workspace, ["diffusion.iters=60", "diffusion.lr=3e-3"], name="b")
    run_train(b)
    ta = load_file(str(a.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(b.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert ta.keys() == tb.keys() and {"mean", "std", "index"} <= set(ta)
    for k in ta:
        assert torch.allclose(ta[k], tb[k], atol=1e-6), k
    assert run_train(b) == json.loads((b.stage_dir("train") / "report.json").read_text())  # done: returns its report


def test_ddim_is_deterministic_at_eta_0_and_runs_all_steps(workspace):
    run = fitted_run(workspace, [])
    run_train(run)
    model, schedule, _ = load_trained(run, torch.device("cpu"))
    labels = torch.tensor([0, 1, 2, 3])
    a = ddim_sample(model, schedule, labels, steps=10, eta=0.0, seed=5)
    assert torch.equal(a, ddim_sample(model, schedule, labels, steps=10, eta=0.0, seed=5))
    assert not torch.equal(a, ddim_sample(model, schedule, labels, steps=10, eta=0.0, seed=6))
    assert schedule.ddim_times(500) == list(range(499, -1, -1))
    full = ddim_sample(model, schedule, labels, steps=500, eta=0.0, seed=5)
    assert torch.equal(full, ddim_sample(model, schedule, labels, steps=500, eta=0.0, seed=5))
    noisy = ddim_sample(model, schedule, labels, steps=10, eta=1.0, seed=5)
    assert torch.equal(noisy, ddim_sample(model, schedule, labels, steps=10, eta=1.0, seed=5))  # seeded noise
    assert not torch.equal(noisy, a)
    for w in (a, full, noisy):
        assert w.shape == (4, model.cfg.n_params) and torch.isfinite(w).all()


def test_sampling_writes_valid_images_and_eval_finds_them(workspace):
    from nfgen_tui.model.diffusion.stage import class_count
    from nfgen_tui.model.generator import class_names

    run = fitted_run(workspace, ["train.class_dropout=0.2"])
    assert class_count(run) is None and class_names(run) == [str(d) for d in range(10)]  # the dataset's, untrained
    run_train(run)
    assert class_count(run) == 10  # what run_sample checks `digit` against: the denoiser's checkpoint
    out = run_sample(run, n=2, size=20, seed=3, cfg=2.0, steps=5)
    folder = run.stage_dir("sample") / out["id"]
    assert out["id"] == "all-n2-ddim5-eta0-cfg2-s3-px20-step20" and out["n"] == 20
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kind"] == "diffusion" and (meta["steps"], meta["eta"], meta["cfg"]) == (5, 0.0, 2.0)
    assert meta["labels"] == [c for c in range(10) for _ in range(2)]
    weights = load_file(str(folder / "weights.safetensors"))
    assert weights["weights"].shape == (20, 217) and torch.isfinite(weights["weights"]).all()
    images = np.load(folder / "images.npy")
    assert images.shape == (20, 20, 20) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0
    assert Image.open(folder / "grid.png").size[0] >= 2 * 20
    assert run_sample(run, n=2, size=20, seed=3, cfg=2.0, steps=5)["cached"]

    from nfgen_tui.stages.evaluate import default_sample_dir

    default = run_sample(run)  # the config's settings: 30 per class, DDIM sample.steps
    assert default_sample_dir(run, run.config()).name == default["id"] == "all-n30-ddim10-eta0-cfg1.5-s0-px28-step20"


def test_kind_mismatch_and_unguidable_runs_are_user_errors(workspace):
    gpt = trained_run(workspace, TINY_TRAINED, name="g")
    ckpt_before = (gpt.stage_dir("train") / "ckpt" / "model.safetensors").read_bytes()
    cfg = gpt.config()
    cfg.model.kind = "diffusion"
    gpt.write_config(cfg)
    for args in (("train", "g"), ("sample", "g")):
        r = cli(workspace, *args)
        assert r.exit_code == 2, r.output
        assert "holds a gpt generator" in r.output and "nfgen train g --force" in r.output
        assert "Traceback" not in r.output
    assert (gpt.stage_dir("train") / "ckpt" / "model.safetensors").read_bytes() == ckpt_before  # nothing overwritten
    cfg.diffusion.n_layer, cfg.diffusion.n_head, cfg.diffusion.n_embd, cfg.diffusion.iters = 1, 2, 32, 5
    gpt.write_config(cfg)
    r = cli(workspace, "train", "g", "--force")  # the way out: the denoiser replaces the GPT
    assert r.exit_code == 0, r.output
    cfg.model.kind = "gpt"
    gpt.write_config(cfg)
    r = cli(workspace, "sample", "g")
    assert r.exit_code == 2 and "holds a diffusion generator" in r.output, r.output
    r = cli(workspace, "sample", "g", "--steps", "5")  # a GPT run refuses the diffusion flags
    assert r.exit_code == 2 and "--steps is a diffusion / AR-diffusion setting" in r.output, r.output

    plain = fitted_run(workspace, ["train.class_dropout=0"], name="p")
    run_train(plain)
    for args, says in ((("sample", "p", "--cfg", "2"), "class_dropout"), (("sample", "p", "--temperature", "0.5"),
                                                                           "--temperature is a GPT / AR-diffusion setting"),
                       (("sample", "p", "--steps", "0"), "--steps"), (("sample", "p", "--eta", "2"), "--eta"),
                       (("init", "bad", "--set", "diffusion.split=row"), "diffusion.split"),
                       (("init", "bad", "--set", "model.kind=gan"), "model.kind"),
                       (("init", "bad", "--set", "sample.steps=600"), "sample.steps")):
        r = cli(workspace, *args)
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, (args, r.output)
    assert not plain.stage_dir("sample").exists() or not any(plain.stage_dir("sample").iterdir())


def _subprocess_env(workspace) -> dict:
    import os

    from test_model_train import _pythonpath

    return {**os.environ, "NFGEN_WORKSPACE": str(workspace.root), "PYTHONPATH": _pythonpath(), "OMP_NUM_THREADS": "1"}


def _copy_fields(src, dst) -> None:
    """The same fitted fields for a second run (fitting is deterministic; copying saves the test the time)."""
    import shutil

    shutil.copytree(src.stage_dir("fit"), dst.stage_dir("fit"), dirs_exist_ok=True)


def test_ddp_two_gloo_processes_match_one_process_and_sigterm_checkpoints(workspace):
    import subprocess
    import sys

    from test_model_train import REPO, losses, sigterm_after

    one = fitted_run(workspace, ["diffusion.iters=4", "diffusion.batch_size=8"], name="one")
    c = one.config()
    ddp = workspace.create_run("ddp", c)
    _copy_fields(one, ddp)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "nfgen_tui.cli", "train", "ddp", "--json"], env=_subprocess_env(workspace), cwd=REPO,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((ddp.stage_dir("train") / "ckpt" / "state.json").read_text())["world_size"] == 2
    run_train(one)
    a, b = losses(ddp), losses(one)
    assert sorted(a) == [1, 2, 3, 4]
    for s in a:
        assert a[s] == pytest.approx(b[s], rel=1e-5)
    ta = load_file(str(ddp.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(one.stage_dir("train") / "ckpt" / "model.safetensors"))
    d = c.diffusion
    assert_adam_twins(ta, tb, lr_total(lambda s: warmup_cosine_lr(s, d.lr, d.min_lr, c.train.warmup, d.iters), 4))

    c.diffusion.iters, c.train.ckpt_every = 100_000, 100_000
    long = workspace.create_run("long", c)
    _copy_fields(one, long)
    state = sigterm_after(long, _subprocess_env(workspace), 3, 120)
    assert state["kind"] == "diffusion" and state["step"] == max(losses(long)) >= 3
    assert long.stage_state("train") == "interrupted"
