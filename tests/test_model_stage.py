"""Train and sample on real upstream stages (fit → codebook) with tiny settings, through the stage functions and CLI."""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui import config as cfgmod
from nfgen_tui.cli import app
from nfgen_tui.model.stage import run_sample, run_train
from nfgen_tui.tokens.vocab import Vocabulary


def test_train_and_sample_on_real_tokens(workspace):
    from nfgen_tui.stages.fit import run_fit
    from nfgen_tui.tokens.stage import run_codebook

    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["model.kind=gpt", "data.limit=40", "fields.steps=30", "fields.hidden=[8,8]", "fields.subspace=0", "diffusion.target=weights", "model.n_layer=1", "model.n_head=2",
                               "model.n_embd=32", "train.iters=40", "train.batch_size=8", "train.warmup=5",
                               "train.eval_every=20", "train.ckpt_every=20", "train.log_every=1", "device=cpu"])
    run = workspace.create_run("real", c)
    run_fit(run)
    run_codebook(run)
    vocab = Vocabulary.load(run.stage_dir("codebook") / "report.json")

    res = run_train(run)
    curve = {e["step"]: e["loss"] for e in run.events("train")[0] if "loss" in e}
    assert res["step"] == 40 and sorted(curve) == list(range(1, 41))
    assert curve[1] > np.log(vocab.n_codes) - 0.3  # starts near uniform over the codes
    assert np.mean([curve[s] for s in range(36, 41)]) < curve[1] - 0.3
    assert run.stage_state("train") == "done"

    out = run_sample(run, n=2, size=20, seed=3)
    folder = run.stage_dir("sample") / out["id"]
    assert out["n"] == 2 * vocab.n_classes and out["dir"] == str(folder)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["labels"] == [c for c in range(vocab.n_classes) for _ in range(2)]
    assert (meta["size"], meta["seed"], meta["step"], meta["digit"]) == (20, 3, 40, None)
    tokens = load_file(str(folder / "tokens.safetensors"))["tokens"]
    lo, hi = vocab.allowed_bounds()
    assert tokens.shape == (out["n"], vocab.seq_len) and ((tokens >= lo) & (tokens < hi)).all()
    weights = load_file(str(folder / "weights.safetensors"))
    assert weights["weights"].shape[0] == out["n"] and torch.isfinite(weights["weights"]).all()
    images = np.load(folder / "images.npy")
    assert images.shape == (out["n"], 20, 20) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0
    assert Image.open(folder / "grid.png").size[0] >= 2 * 20
    assert run_sample(run, n=2, size=20, seed=3)["dir"] == out["dir"]  # same request, same folder, no resampling

    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "sample", "real", "--digit", "7", "--n", "3",
                                 "--top-p", "0.9", "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["n"] == 3 and "d7-" in got["dir"]
    assert json.loads((run.stage_dir("sample") / got["id"] / "meta.json").read_text())["labels"] == [7, 7, 7]
    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "sample", "real", "--digit", "12"])
    assert r.exit_code == 2 and "out of range" in r.stderr
