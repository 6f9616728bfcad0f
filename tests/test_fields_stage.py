"""`nfgen fit`: files per the contract, idempotent, resumable after an interruption, clean user errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from float_bounds import assert_adam_twins, lr_total
from nfgen_tui import config as cfgmod
from nfgen_tui.fields.fit import field_lr
from nfgen_tui.cli import app
from nfgen_tui.data import load_dataset, select
from nfgen_tui.fields import Layout, render
from nfgen_tui.stages.fit import run_fit
from nfgen_tui.workspace import Workspace, read_json

TINY = ["data.limit=24", "fields.chunk_size=8", "fields.steps=60", "fields.hidden=[16,16]",
        "fields.subspace=0", "diffusion.target=weights"]  # the reference field, fitted freely


def make_run(ws: Workspace, name: str, extra=()):
    c = cfgmod.apply_overrides(cfgmod.preset("quick"), [*TINY, *extra])
    return ws.create_run(name, c)


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    run = make_run(ws, "whole")
    report = run_fit(run, device="cpu")
    return ws, run, report


def test_fit_writes_the_contract_files(uninterrupted):
    _, run, report = uninterrupted
    fdir = run.dir / "fields"
    data = load_file(str(fdir / "weights.safetensors"))
    assert data["weights"].shape == (24, 561) and data["weights"].dtype == torch.float32
    assert data["labels"].dtype == torch.int64 and sorted(set(data["labels"].tolist())) == list(range(10))
    assert data["split"].tolist().count(1) >= 10  # held-out digits are fitted too
    assert torch.allclose(data["psnr"].mean(), torch.tensor(report["psnr_mean"]), atol=1e-3)
    for key in ("n_fields", "n_params", "psnr_mean", "psnr_p10", "psnr_min", "seconds", "fields_per_s", "device",
                "init", "weight_spread"):
        assert key in report
    assert report["n_fields"] == 24 and report["n_params"] == 561 and report["device"] == "cpu"
    assert report["psnr_mean"] > 15 and report["weight_spread"] > 0  # 60 steps only: plumbing, not quality
    # row i is image i of data.select(...): its rendering scores the stored PSNR against that image
    images, labels, _ = select(load_dataset("mnist-5k"), 24, 0.1, 0)
    assert data["labels"].tolist() == labels.tolist()
    layout = Layout.from_json((fdir / "layout.json").read_text())
    mse = (render(data["weights"], layout, 28) - torch.from_numpy(images)).pow(2).flatten(1).mean(1)
    assert torch.allclose(-10 * torch.log10(mse), data["psnr"], atol=1e-3)
    events, _ = run.events("fit")
    steps = [e for e in events if "step" in e]
    assert steps and all(e["step"] % 25 == 0 or e["step"] == 60 for e in steps)
    assert {e["chunk"] for e in steps} == {0, 1, 2}
    assert run.stage_state("fit") == "done"


def test_a_finished_fit_returns_its_report_without_refitting(uninterrupted):
    _, run, report = uninterrupted
    before = len(run.events("fit")[0])
    assert run_fit(run, device="cpu") == report
    assert len(run.events("fit")[0]) == before


def test_resume_after_interruption_equals_uninterrupted(uninterrupted):
    ws, whole, _ = uninterrupted
    run = make_run(ws, "broken")

    def stop_in_second_chunk(done, total, **info):
        if done > 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_fit(run, progress=stop_in_second_chunk, device="cpu")
    chunks = sorted(p.name for p in (run.dir / "fields" / "chunks").glob("chunk_*.safetensors"))
    assert chunks == ["chunk_00000.safetensors"] and not run.is_done("fit")
    assert run.stage_state("fit") == "failed"
    # a half-written chunk must never count as done
    (run.dir / "fields" / "chunks" / "chunk_00001.safetensors").write_bytes(b"\x08\x00\x00garbage")
    report = run_fit(run, device="cpu")
    assert report["resumed_chunks"] == 1 and report["fitted_now"] == 16
    a = load_file(str(run.dir / "fields" / "weights.safetensors"))
    b = load_file(str(whole.dir / "fields" / "weights.safetensors"))
    assert torch.equal(a["weights"], b["weights"]) and torch.equal(a["labels"], b["labels"])


def test_force_refits(uninterrupted):
    ws, _, _ = uninterrupted
    run = make_run(ws, "forced", ["data.limit=10", "fields.steps=30", "fields.init=random"])
    first = run_fit(run, device="cpu")
    again = run_fit(run, device="cpu", force=True)
    assert again["resumed_chunks"] == 0 and again["fitted_now"] == 10
    assert again["psnr_mean"] == first["psnr_mean"]  # seeded: the same result again
    assert not (run.dir / "fields" / "init.safetensors").exists()  # `random` has no shared template


@pytest.mark.parametrize("setting,message", [("fields.hidden=16,0", "width"), ("fields.arch=transformer", "architecture")])
def test_bad_config_is_a_clean_user_error(tmp_path, setting, message):
    runner = CliRunner()
    res = runner.invoke(app, ["--workspace", str(tmp_path), "init", "bad", "--set", setting])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    # a config edited by hand after `init` is refused by `fit` the same way
    ws = Workspace(tmp_path)
    run = make_run(ws, "edited")
    run.config_path.write_text(run.config_path.read_text().replace('arch = "relu-pe"', 'arch = "transformer"')
                               .replace("hidden = [\n    16,\n    16,\n]", "hidden = [\n    16,\n    0,\n]"))
    res = runner.invoke(app, ["--workspace", str(tmp_path), "fit", "edited", "--json"])
    assert res.exit_code == 2 and "fields." in res.output and "Traceback" not in res.output


def test_two_torchrun_processes_split_the_chunks_and_rank0_merges(uninterrupted, tmp_path):
    _, whole, _ = uninterrupted
    ws = Workspace(tmp_path)
    run = make_run(ws, "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "nfgen_tui.cli", "--workspace", str(tmp_path), "--device", "cpu", "fit", "ddp", "--json"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=Path(__file__).parent.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    report = read_json(run.dir / "fields" / "report.json")
    assert report["world_size"] == 2 and report["n_fields"] == 24 and report["fitted_now"] == 24
    assert res.stdout.count("{") == 1  # one JSON object on stdout: only rank 0 prints
    ranks = {e.get("rank") for e in run.events("fit")[0] if "step" in e}
    assert ranks == {0, 1}
    a = load_file(str(run.dir / "fields" / "weights.safetensors"))["weights"]
    b = load_file(str(whole.dir / "fields" / "weights.safetensors"))["weights"]
    # each rank fits its chunks alone, on one thread: another float order than one process (bounds: float_bounds.py)
    fc = run.config().fields
    assert_adam_twins({"w": a}, {"w": b}, lr_total(lambda s: field_lr(s, fc.steps, fc.lr, fc.schedule), fc.steps))
