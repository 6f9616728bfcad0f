"""Tokens that carry several weights: `pair` / `group:G` joint codes and fields fitted in a shared subspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from float_bounds import assert_adam_twins
from nfgen_tui import config as cfgmod
from tiny_runs import kill_9_at_first_joint_checkpoint
from nfgen_tui.cli import app
from nfgen_tui.errors import UserError
from nfgen_tui.fields import psnr, render
from nfgen_tui.fields.functional import forward, inputs, to_intensity
from nfgen_tui.fields.layout import layout_from_config
from nfgen_tui.fields.sensitivity import pixel_sensitivity
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.fields.subspace import flat_weights
from nfgen_tui.tokens import decode_tokens, fit_tokenizer, load_tokenizer
from nfgen_tui.tokens.group import GroupTokenizer, group_index
from nfgen_tui.tokens.kmeans import kmeans
from nfgen_tui.tokens.kmeans_graph import kmeans_graph, kmeans_pp_rounds
from nfgen_tui.tokens.stage import load_targets, run_codebook
from nfgen_tui.workspace import Workspace

runner = CliRunner()
SUB = ["data.limit=24", "data.holdout=0.25", "fields.hidden=[16,16]", "fields.steps=30", "fields.chunk_size=12",
       "fields.subspace=8", "fields.subspace_steps=80", "fields.subspace_warm=12", "codebook.size=32",
       "codebook.refine_steps=10", "device=cpu"]


def specials(rep: dict) -> int:
    """SOS, the 10 classes and, where the vocabulary has one, the null class."""
    return 1 + rep["n_classes"] + (rep.get("null_class") is not None)


def layout(hidden=(16, 16)):
    c = cfgmod.preset("quick")
    c.fields.hidden = list(hidden)
    return layout_from_config(c.fields)


# ---------------------------------------------------------------------------------------------------------------
# group modes on synthetic weights

@pytest.mark.parametrize("g, tokens", [(2, 281), (3, 188), (4, 141)])
def test_groups_cover_every_weight_once_within_a_layer(g, tokens):
    lay = layout()
    idx = group_index(lay, g)
    assert sum(i.shape[0] for i in idx) == tokens  # 561 weights: 272 + 272 + 17 per layer, last group padded
    flat = torch.cat([torch.from_numpy(i).flatten() for i in idx])
    real = flat[flat >= 0]
    assert sorted(real.tolist()) == list(range(lay.n_params))
    for i, (w0, _, end) in zip(idx, lay.offsets()):
        assert ((i == -1) | ((i >= w0) & (i < end))).all()  # no group straddles two layers


def test_pair_mode_round_trips_and_declares_its_ids():
    lay = layout()
    g = torch.Generator().manual_seed(0)
    w = torch.randn(120, lay.n_params, generator=g) * 0.3 + torch.linspace(-1, 1, lay.n_params)
    cc = cfgmod.preset("quick").codebook
    cc.mode, cc.size, cc.iters = "pair", 64, 5
    tok, results = fit_tokenizer(w, lay, cc, 10, seed=0)
    assert isinstance(tok, GroupTokenizer) and tok.vocab.n_codes == 3 * 64 and tok.vocab.seq_len == 283
    codes = tok.encode(w)
    allowed = tok.vocab.allowed[2:]
    for layer, (lo, hi) in enumerate(sorted(set(allowed))):
        assert (lo, hi) == (64 * layer, 64 * (layer + 1))
    lo, hi = tok.vocab.allowed_bounds()
    assert ((codes >= lo[2:]) & (codes < hi[2:])).all()
    q = tok.decode(codes)
    assert torch.equal(tok.encode(q), codes)  # a quantized field encodes to its own codes
    assert torch.allclose(tok.decode(tok.encode(q)), q)
    # decoding is the codebook entry, unscaled, at the group's positions
    pos = int(torch.from_numpy(group_index(lay, 2)[1])[5, 1])
    code = int(codes[3, 136 + 5]) - 64
    assert float(q[3, pos]) == pytest.approx(float(tok.codebooks[1][code, 1] / tok.scale[pos] + tok.centre[pos]),
                                             rel=1e-5, abs=1e-6)
    for r, vecs in zip(results, tok.groups(w)):  # 64 codes per layer keep most of the (scaled) spread
        assert r.distortion < vecs.square().sum(1).mean() / 4


def test_a_unit_off_in_every_field_does_not_blow_up_when_decoded():
    """Its incoming weights move no pixel (sensitivity 0); decoding divides their code error by the position's scale,
    so without a floor on the scale that error returned ×1000 (seen on quick3d: most shapes came back empty)."""
    lay = layout()
    g = torch.Generator().manual_seed(3)
    w = torch.randn(200, lay.n_params, generator=g) * 0.3
    w0, b0, _ = lay.offsets()[0]
    n_in, unit = lay.layers[0].n_in, 3
    rows = slice(w0 + unit * n_in, w0 + (unit + 1) * n_in)
    w[:, b0 + unit] = -50.0  # off at every pixel of every field
    assert pixel_sensitivity(w[:4], lay, 28)[:, rows].abs().max() == 0
    cc = cfgmod.preset("quick").codebook
    cc.mode, cc.size, cc.iters = "group:4", 16, 5
    tok, _ = fit_tokenizer(w, lay, cc, 10, seed=0)
    err = (tok.decode(tok.encode(w)) - w).abs()
    assert err[:, rows].max() < 5 * w[:, rows].std()  # 1e-3 as the floor: 78 (the spread is 0.3)


def test_neighbour_search_lloyd_gives_the_full_search_answer():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20_000, 2, generator=g) ** 3
    init = kmeans_pp_rounds(x, 256, g)  # spread-out codes, as the group modes start
    fast = kmeans_graph(x, 256, 8, init=init.clone(), tol=0.0)
    plain = kmeans(x, 256, 8, init=init.clone(), tol=0.0)
    assert fast.iters == plain.iters == 8
    assert torch.allclose(fast.centers, plain.centers, atol=1e-5)
    assert fast.distortion == pytest.approx(plain.distortion, rel=1e-5)
    # from codes drawn at random some rows' codes jump far in the first updates: the neighbour search may then miss
    # the best code for an iteration, never by much
    rand = x[torch.randperm(20_000, generator=g)[:256]].clone()
    fast = kmeans_graph(x, 256, 8, init=rand.clone(), tol=0.0)
    plain = kmeans(x, 256, 8, init=rand.clone(), tol=0.0)
    assert fast.distortion == pytest.approx(plain.distortion, rel=0.02) and fast.dead == 0


def test_sensitivity_is_the_squared_jacobian_of_the_image():
    lay = layout((4, 3))
    g = torch.Generator().manual_seed(2)
    w = torch.randn(2, lay.n_params, generator=g) * 0.5
    feats = inputs(lay, 6)
    for i in range(2):
        jac = torch.autograd.functional.jacobian(
            lambda v: to_intensity(forward(v[None], lay, feats), lay)[0], w[i])  # [36, P]
        assert torch.allclose(pixel_sensitivity(w[i:i + 1], lay, 6)[0], jac.square().mean(0), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("mode", ["pairs", "group:9", "group:1", "neurons"])
def test_unknown_mode_is_a_user_error_listing_every_mode(tmp_path, mode):
    res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "bad", "--set", f"codebook.mode={mode}"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "scalar | neuron | pair | group:G" in res.output and "subspace" in res.output


# ---------------------------------------------------------------------------------------------------------------
# the stage on real tiny fields

@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def pair_run(ws):
    c = cfgmod.apply_overrides(cfgmod.preset("quick"), ["model.kind=gpt", "data.limit=30", "fields.steps=40",
                                                        "fields.hidden=[16,16]", "fields.subspace=0", "diffusion.target=weights", "codebook.mode=pair",
                                                        "codebook.size=256", "codebook.iters=8", "device=cpu"])
    run = ws.create_run("pairs", c)
    run_fit(run, device="cpu")
    return run, run_codebook(run, device="cpu")


def test_pair_stage_reports_and_decodes_exactly(pair_run):
    run, rep = pair_run
    assert rep["mode"] == "pair" and rep["seq_len"] == 283 and rep["group_size"] == 2
    assert rep["vocab_size"] == rep["n_codes"] + specials(rep)
    assert rep["n_codes"] == sum(b["codes"] for b in rep["codebooks"])
    assert len(rep["codebooks"]) == 3 and all(b["dim"] == 2 for b in rep["codebooks"])
    assert rep["psnr_unquantized_mean"] - rep["psnr_quantized_mean"] < 6.0  # 256 codes per layer, 36 fields
    toks = load_file(str(run.stage_dir("codebook") / "tokens.safetensors"))["tokens"]
    w = load_file(str(run.stage_dir("fit") / "weights.safetensors"))["weights"]
    tok = load_tokenizer(run)
    assert torch.equal(decode_tokens(run, toks), tok.decode(tok.encode(w)))
    with pytest.raises(UserError, match="position 2"):
        bad = toks.clone()
        bad[0, 2] = rep["n_codes"] + 1  # a class token where a weight belongs
        decode_tokens(run, bad)


def test_a_codebook_file_of_another_mode_is_refused_by_name(pair_run, tmp_path):
    run, _ = pair_run
    folder = run.stage_dir("codebook")
    path = folder / "codebook.safetensors"
    original = path.read_bytes()
    try:
        save_file(load_file(str(path)), str(path), metadata={"mode": "scalar"})
        with pytest.raises(UserError, match="'scalar' codebook .* mode 'pair'"):
            load_tokenizer(run)
    finally:
        path.write_bytes(original)
    tokens = folder / "tokens.safetensors"
    original = tokens.read_bytes()
    try:  # a token file of another mode: train and eval read it through load_tokens
        save_file(load_file(str(tokens)), str(tokens), metadata={"mode": "subspace"})
        res = runner.invoke(app, ["--workspace", str(run.workspace.root), "train", "pairs"])
    finally:
        tokens.write_bytes(original)
    assert res.exit_code == 2 and "'subspace' tokens" in res.stderr and "mode 'pair'" in res.stderr


def test_gpt_is_sized_from_the_pair_vocabulary(pair_run):
    from nfgen_tui.model.stage import load_vocab, model_config

    run, rep = pair_run
    gcfg = model_config(run.config(), load_vocab(run))
    assert gcfg.vocab_size == rep["vocab_size"] > 256 and gcfg.block_size == 282


# ---------------------------------------------------------------------------------------------------------------
# fields fitted in a shared subspace

def subspace_run(ws, name, extra=()):
    return ws.create_run(name, cfgmod.apply_overrides(cfgmod.preset("quick"), [*SUB, *extra]))


@pytest.fixture(scope="module")
def sub_run(ws):
    run = subspace_run(ws, "sub", ["codebook.mode=subspace"])
    fit = run_fit(run, device="cpu")
    return run, fit, run_codebook(run, device="cpu")


def test_subspace_fields_are_ordinary_flat_weights(sub_run):
    run, fit, _ = sub_run
    fdir = run.stage_dir("fit")
    sub = load_file(str(fdir / "subspace.safetensors"))
    data = load_file(str(fdir / "weights.safetensors"))
    assert sub["basis"].shape == (561, 8) and sub["c"].shape == (24, 8)
    flat = flat_weights(sub["c"], sub["basis"], sub["mu"], sub["w0"])
    assert torch.equal(flat, data["weights"])
    lay = layout()
    assert torch.allclose(render(flat, lay, 28), render(data["weights"], lay, 28))
    assert fit["subspace"] == 8 and fit["psnr_mean_train"] > 13  # 8 dims, 120 steps: plumbing, not quality
    held = data["split"] == 1
    assert held.any() and (sub["c"][held].abs().sum(1) > 0).all()  # held-out fields got their own c


def test_subspace_tokens_decode_to_the_quantized_weights(sub_run):
    run, _, rep = sub_run
    assert rep["mode"] == "subspace" and rep["seq_len"] == 10 and rep["vocab_size"] == 32 + specials(rep)
    full = json.loads((run.stage_dir("codebook") / "report.json").read_text())
    assert full["allowed"][2:] == [[0, 32]] * 8
    toks = load_file(str(run.stage_dir("codebook") / "tokens.safetensors"))["tokens"]
    tok = load_tokenizer(run)
    q = decode_tokens(run, toks)
    sub = load_file(str(run.stage_dir("fit") / "subspace.safetensors"))
    c = tok.codebooks[0][toks[:, 2:]] * tok.std
    assert torch.allclose(q, flat_weights(c, sub["basis"], sub["mu"], sub["w0"]), atol=1e-6)
    assert torch.equal(tok.encode(q), toks[:, 2:])  # quantized fields encode to their own codes
    fields = load_file(str(run.stage_dir("fit") / "weights.safetensors"))["weights"]
    plain = tok.decode(tok.encode(fields))
    labels = load_file(str(run.stage_dir("fit") / "weights.safetensors"))["labels"]
    data, _ = load_targets(run, run.config(), labels, layout())
    images = data.images
    # quantization-aware codes (refit after each quantized block) render the digits better than plain rounding
    aware = psnr(render(q, layout(), 28), images).mean()
    assert aware > psnr(render(plain, layout(), 28), images).mean()


def test_subspace_codebook_on_ordinary_fields_is_refused(pair_run):
    run, _ = pair_run
    res = runner.invoke(app, ["--workspace", str(run.workspace.root), "init", "plainsub", "--set", "data.limit=30",
                              "--set", "fields.steps=40", "--set", "fields.hidden=[16,16]",
                              "--set", "fields.subspace=0", "--set", "diffusion.target=weights",
                              "--set", "codebook.mode=subspace"])
    assert res.exit_code == 0, res.output
    import shutil
    other = run.workspace.run("plainsub")
    shutil.copytree(run.stage_dir("fit"), other.stage_dir("fit"), dirs_exist_ok=True)
    res = runner.invoke(app, ["--workspace", str(run.workspace.root), "codebook", "plainsub"])
    assert res.exit_code == 2 and "fields.subspace = 0" in res.stderr and "Traceback" not in res.output


def test_subspace_fit_resumes_after_kill_9_bit_identical(ws, sub_run, tmp_path):
    ref, _, _ = sub_run
    wsk = Workspace(tmp_path / "k")
    run = subspace_run(wsk, "sub", ["codebook.mode=subspace"])
    kill_9_at_first_joint_checkpoint(run)  # step 50 of 80
    rep = run_fit(run, device="cpu")
    assert rep["subspace"] == 8
    a = load_file(str(ref.stage_dir("fit") / "weights.safetensors"))
    b = load_file(str(run.stage_dir("fit") / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_subspace_wider_than_the_field_is_a_user_error(tmp_path):
    res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "wide", "--set", "data.limit=20",
                              "--set", "fields.subspace=5000"])
    assert res.exit_code == 0
    res = runner.invoke(app, ["--workspace", str(tmp_path), "fit", "wide"])
    assert res.exit_code == 2 and "fields.subspace" in res.stderr


def test_report_json_holds_the_subspace_vocabulary(sub_run):
    run, _, _ = sub_run
    rep = json.loads((run.stage_dir("codebook") / "report.json").read_text())
    assert rep["subspace"] == 8 and rep["refine_rounds"] == 4 and rep["kinds"][2:] == [2] * 8


def test_two_torchrun_processes_fit_the_subspace_like_one(sub_run, tmp_path):
    ref, _, _ = sub_run
    wsd = Workspace(tmp_path)
    run = subspace_run(wsd, "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "nfgen_tui.cli", "--workspace", str(tmp_path), "--device", "cpu", "fit", "ddp", "--json"]
    res = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["world_size"] == 2
    a = load_file(str(run.stage_dir("fit") / "subspace.safetensors"))
    b = load_file(str(ref.stage_dir("fit") / "subspace.safetensors"))
    # the ranks' gradient sums meet in an all-reduce: the same sums, possibly rounded in another order (bounds:
    # tests/float_bounds.py); B and μ move at fields.subspace_lr, every c at fields.lr, each for subspace_steps
    fc = ref.config().fields
    assert_adam_twins(a, b, fc.subspace_steps * fc.subspace_lr, keys=("basis", "mu"))
    assert_adam_twins(a, b, fc.subspace_steps * fc.lr, keys=("c",))
