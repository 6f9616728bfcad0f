"""`run_codebook` on a few real fitted MNIST digits: files per docs/contracts.md, PSNR after quantization, modes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from nfgen_tui import config as cfgmod
from nfgen_tui.cli import app
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.tokens import TokenError, decode_tokens, load_tokenizer
from nfgen_tui.tokens.stage import run_codebook
from nfgen_tui.workspace import Workspace

N_FIELDS = 30
# the target is "within 3 dB of the unquantized fields"; 245 scalar codes lose well under 1 dB here
MAX_SCALAR_PSNR_DROP = 1.0
MIN_SCALAR_PSNR = 20.0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    c = cfgmod.apply_overrides(cfgmod.preset("quick"), [f"data.limit={N_FIELDS}", "fields.steps=100", "fields.hidden=[16,16]", "fields.subspace=0", "diffusion.target=weights", "device=cpu"])
    run = ws.create_run("digits", c)
    run_fit(run, lambda *a, **k: None, None)
    return ws, run


@pytest.fixture(scope="module")
def scalar_report(fitted):
    return run_codebook(fitted[1])


def test_scalar_codebook_keeps_the_digits(fitted, scalar_report):
    rep = scalar_report
    assert rep["mode"] == "scalar" and rep["vocab_size"] == 257 and rep["seq_len"] == 563
    assert rep["psnr_quantized_mean"] >= MIN_SCALAR_PSNR
    assert rep["psnr_unquantized_mean"] - rep["psnr_quantized_mean"] <= MAX_SCALAR_PSNR_DROP
    assert rep["psnr_quantized_p10"] <= rep["psnr_quantized_mean"]
    assert rep["dead_codes"] == 0 and 100 < rep["perplexity"] <= 245
    assert rep["n_fields"] == N_FIELDS and 0 < rep["n_train"] < N_FIELDS
    fit_report = json.loads((fitted[1].stage_dir("fit") / "report.json").read_text())
    assert rep["psnr_unquantized_mean"] == pytest.approx(fit_report["psnr_mean"], abs=0.05)


def test_files_follow_the_contract(fitted, scalar_report):
    run = fitted[1]
    folder = run.stage_dir("codebook")
    full = json.loads((folder / "report.json").read_text())
    assert (full["n_codes"], full["sos"], full["class_offset"], full["n_classes"], full["null_class"]) == \
        (245, 245, 246, 10, 256)
    assert (full["seq_len"], full["block_size"]) == (563, 562)
    assert full["allowed"][:2] == [[245, 246], [246, 256]] and len(full["allowed"]) == len(full["kinds"]) == 563
    fields = load_file(str(run.stage_dir("fit") / "weights.safetensors"))
    toks = load_file(str(folder / "tokens.safetensors"))
    tokens = toks["tokens"]
    assert tokens.shape == (N_FIELDS, 563) and tokens.dtype == torch.int64
    assert torch.equal(toks["labels"], fields["labels"]) and torch.equal(toks["split"], fields["split"])
    assert torch.all(tokens[:, 0] == 245) and torch.equal(tokens[:, 1], 246 + fields["labels"])
    assert int(tokens[:, 2:].max()) < 245 and int(tokens[:, 2:].min()) >= 0
    # every weight decodes to its nearest code (brute force over the codebook)
    book = load_file(str(folder / "codebook.safetensors"))["codebook"]
    w = fields["weights"]
    dec = decode_tokens(run, tokens)
    best = (w[..., None] - book).abs().min(-1).values
    assert torch.all((dec - w).abs() <= best + 1e-6)
    assert torch.equal(decode_tokens(run.dir, tokens[:, 2:]), dec)  # the run folder and weight tokens alone work
    bad = tokens.clone()
    bad[3, 100] = 250  # class token 4
    with pytest.raises(TokenError, match="class token 4"):
        decode_tokens(run, bad)


def test_finished_stage_is_not_recomputed_unless_forced(fitted, scalar_report):
    run = fitted[1]

    def starts():
        return sum(1 for e in run.events("codebook")[0] if e.get("event") == "start")

    before = starts()
    tokens_file = run.stage_dir("codebook") / "tokens.safetensors"
    first = load_file(str(tokens_file))["tokens"]
    assert run_codebook(run) == scalar_report and starts() == before
    again = run_codebook(run, force=True)
    assert starts() == before + 1
    assert torch.equal(load_file(str(tokens_file))["tokens"], first)  # seeded: the same codebook again
    assert again["psnr_quantized_mean"] == pytest.approx(scalar_report["psnr_quantized_mean"])
    iters = [e for e in run.events("codebook")[0] if "distortion" in e]
    assert iters and all(e["distortion"] > 0 for e in iters)


def test_neuron_mode_is_shorter_and_loses_quality(fitted, scalar_report):
    ws, scalar_run = fitted
    c = scalar_run.config()
    c.codebook.mode = "neuron"
    run = ws.create_run("neurons", c)
    shutil.copytree(scalar_run.stage_dir("fit"), run.stage_dir("fit"))  # same fields, other codebook
    rep = run_codebook(run)
    n_train = rep["n_train"]
    # 16 + 16 + 1 neurons; the output layer has only n_train training vectors, so fewer codes there
    assert rep["seq_len"] == 35 and rep["n_codes"] == 245 + 245 + min(245, n_train)
    assert rep["psnr_quantized_mean"] < scalar_report["psnr_quantized_mean"] - 3.0
    tokens = load_file(str(run.stage_dir("codebook") / "tokens.safetensors"))["tokens"]
    assert tokens.shape == (N_FIELDS, 35)
    assert decode_tokens(run, tokens).shape == (N_FIELDS, 561)
    assert load_tokenizer(run).vocab.allowed[-1] == (490, 490 + min(245, n_train))


def test_cli_codebook(fitted, scalar_report):
    ws, run = fitted
    runner = CliRunner()
    r = runner.invoke(app, ["--workspace", str(ws.root), "codebook", run.name, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"mode", "vocab_size", "seq_len", "psnr_quantized_mean", "dead_codes"} <= out.keys()
    assert out["psnr_quantized_mean"] == pytest.approx(scalar_report["psnr_quantized_mean"])
    ws.create_run("unfitted", cfgmod.preset("quick"))
    r = runner.invoke(app, ["--workspace", str(ws.root), "codebook", "unfitted"])
    assert r.exit_code == 2 and "nfgen fit unfitted" in r.stderr


def test_diverged_fields_are_refused_by_name(fitted):
    from safetensors.torch import save_file

    from nfgen_tui.errors import UserError

    ws, src = fitted
    run = ws.create_run("diverged", src.config())
    shutil.copytree(src.stage_dir("fit"), run.stage_dir("fit"))
    path = run.stage_dir("fit") / "weights.safetensors"
    t = load_file(str(path))
    t["weights"][7, 3] = float("nan")
    save_file(t, str(path))
    with pytest.raises(UserError, match=r"1 fitted field\(s\) .* NaN/inf weights \(first: field 7\)"):
        run_codebook(run)
    assert not run.is_done("codebook")
