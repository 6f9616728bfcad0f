"""Training on tiny synthetic token files: loss falls, kill −9 + resume == uninterrupted, DDP == one process,
bad checkpoints are refused (exit 2, nothing overwritten, nothing unpickled), a diverging loss stops cleanly."""

from __future__ import annotations

import json
import os
import pickle
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import model_synth
from float_bounds import assert_adam_twins, lr_total
from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui.cli import app
from nfgen_tui.model.stage import run_train
from nfgen_tui.model.train import TrainingDiverged, warmup_cosine_lr

REPO = Path(__file__).resolve().parents[1]


def _pythonpath() -> str:
    """The repo first, then whatever the caller's environment already had (packages installed off the venv)."""
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def losses(run) -> dict[int, float]:
    """step → loss of the last train event logged for that step (a resumed run logs some steps twice)."""
    out = {}
    for e in run.events("train")[0]:
        if "loss" in e and "step" in e:
            out[e["step"]] = e["loss"]
    return out


def ckpt_bytes(run) -> dict[str, bytes]:
    d = run.stage_dir("train") / "ckpt"
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def cli(workspace, *args):
    return CliRunner().invoke(app, ["--workspace", str(workspace.root), *args])


def test_loss_falls_and_report_is_written(workspace):
    run = model_synth.make_run(workspace)
    res = run_train(run)
    curve = losses(run)
    assert res["step"] == 60 and len(curve) == 60
    first, last = sum(curve[s] for s in range(1, 6)) / 5, sum(curve[s] for s in range(56, 61)) / 5
    assert first > 2.4  # ≈ log(16) codes: nothing learnt yet
    assert last < 0.75 * first
    assert res["val_loss"] < 0.8 * first
    report = json.loads((run.stage_dir("train") / "report.json").read_text())
    assert report["step"] == 60 and report["val_loss"] == res["val_loss"]
    assert run_train(run) == report  # a finished stage returns its report without training


def test_tied_head_checkpoints_and_resumes(workspace):
    run = model_synth.make_run(workspace, overrides=["model.tie_head=true", "train.ckpt_every=5"])
    run_train(run, iters=5)
    stored = load_file(str(run.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert "tok_emb.weight" in stored and "head.weight" not in stored  # stored once, restored as an alias
    assert run_train(run, iters=8)["step"] == 8
    assert max(losses(run)) == 8


def test_kill_9_then_resume_gives_the_uninterrupted_loss_curve(workspace):
    common = ["train.iters=100000", "train.ckpt_every=10"]  # the schedule's horizon is the same for both runs
    killed = model_synth.make_run(workspace, "killed", common)
    env = {**os.environ, "NFGEN_WORKSPACE": str(workspace.root), "PYTHONPATH": _pythonpath(), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nfgen_tui.cli", "train", "killed"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while max(losses(killed), default=0) < 25:
            assert proc.poll() is None and time.time() < deadline, "training subprocess ended or stalled"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = max(losses(killed))
    run_train(killed, iters=40)
    fresh = model_synth.make_run(workspace, "fresh", common)
    run_train(fresh, iters=40)
    a, b = losses(killed), losses(fresh)
    assert sorted(a) == sorted(b) == list(range(1, 41))
    assert killed_at > 20  # killed after its step-20 checkpoint, so steps 21… were recomputed after the resume
    for s in range(1, 41):
        assert a[s] == pytest.approx(b[s], rel=1e-6, abs=1e-7), s
    ta = load_file(str(killed.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(fresh.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert all(torch.allclose(ta[k], tb[k], atol=1e-6) for k in tb)


def sigterm_after(run, env: dict, min_step: int, timeout: float) -> dict:
    """`nfgen train RUN` in a subprocess, SIGTERM once it has logged step `min_step`: it must end as an interruption
    (exit 130, nothing on stdout, no traceback); returns the state.json of the checkpoint it wrote."""
    proc = subprocess.Popen([sys.executable, "-m", "nfgen_tui.cli", "train", run.name, "--json"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while max(losses(run), default=0) < min_step:
        assert proc.poll() is None and time.time() < deadline, "training subprocess ended or stalled"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and out == "" and "Traceback" not in err, err[-2000:]
    return json.loads((run.stage_dir("train") / "ckpt" / "state.json").read_text())


def test_sigterm_checkpoints_the_current_step_and_ends_as_interrupted(workspace):
    run = model_synth.make_run(workspace, overrides=["train.iters=100000", "train.ckpt_every=100000"])
    env = {**os.environ, "NFGEN_WORKSPACE": str(workspace.root), "PYTHONPATH": _pythonpath(), "OMP_NUM_THREADS": "1"}
    state = sigterm_after(run, env, 5, 90)
    assert state["step"] == max(losses(run)) >= 5  # the step it was at, not a periodic checkpoint
    assert run.events("train")[0][-1]["event"] == "interrupted"
    assert run.stage_state("train") == "interrupted"
    assert run_train(run, iters=state["step"] + 2)["step"] == state["step"] + 2  # and it resumes from there


def test_kill_9_before_the_first_checkpoint_reads_interrupted_at_the_last_step(workspace):
    run = model_synth.make_run(workspace, overrides=["train.iters=100000", "train.ckpt_every=100000"])
    env = {**os.environ, "NFGEN_WORKSPACE": str(workspace.root), "PYTHONPATH": _pythonpath(), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nfgen_tui.cli", "train", run.name], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while max(losses(run), default=0) < 3:
            assert proc.poll() is None and time.time() < deadline, "training subprocess ended or stalled"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (run.stage_dir("train") / "ckpt").exists()  # no checkpoint was written
    assert run.events("train")[0][-1].get("event") is None  # and no "interrupted" event: kill -9 leaves none
    assert run.stage_state("train") == "interrupted" and run.stage_state("sample") == "not started"
    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "status", run.name, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["runs"][run.name]["train"] == "interrupted"
    assert out["stopped_at"][run.name]["train"] == {"step": max(losses(run)), "total": 100000}
    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "status", run.name])
    train_cell = " ".join(line.split("│")[4].strip() for line in r.stdout.splitlines() if line.count("│") > 4)
    assert train_cell.split() == ["interrupted", "step", f"{max(losses(run))}/100000"], r.stdout


def test_ddp_two_gloo_processes_match_one_process(workspace):
    common = ["train.iters=4", "train.batch_size=8"]
    ddp = model_synth.make_run(workspace, "ddp", common)
    one = model_synth.make_run(workspace, "one", common)
    env = {**os.environ, "NFGEN_WORKSPACE": str(workspace.root), "PYTHONPATH": _pythonpath(), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "nfgen_tui.cli", "train", "ddp", "--json"], env=env, cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[0])["step"] == 4
    state = json.loads((ddp.stage_dir("train") / "ckpt" / "state.json").read_text())
    assert state["world_size"] == 2
    run_train(one)
    a, b = losses(ddp), losses(one)
    assert sorted(a) == [1, 2, 3, 4]
    for s in a:  # same loss at every step means every update before it agreed
        assert a[s] == pytest.approx(b[s], rel=1e-5)
    ta = load_file(str(ddp.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(one.stage_dir("train") / "ckpt" / "model.safetensors"))
    c = one.config()
    assert_adam_twins(ta, tb, lr_total(lambda s: warmup_cosine_lr(s, c.train.lr, c.train.min_lr, c.train.warmup,
                                                                  c.train.iters), 4))


class _Planted:
    """Unpickling this creates the marker file — proof that a loader unpickled it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_bad_checkpoints_exit_2_and_nothing_is_overwritten(workspace, tmp_path):
    run = model_synth.make_run(workspace)
    run_train(run, iters=20)
    ckdir = run.stage_dir("train") / "ckpt"
    n_events = len(run.events()[0])

    def refused(match: str):
        before = ckpt_bytes(run)
        r = cli(workspace, "train", run.name, "--iters", "40")
        assert r.exit_code == 2, r.output
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and match in lines[0] and "Traceback" not in r.output, r.stderr
        assert f"rerun `nfgen train {run.name} --force` to train from scratch" in lines[0]  # the way out
        assert ckpt_bytes(run) == before
        assert max(losses(run)) == 20

    good = ckpt_bytes(run)
    # 1. a corrupt tensor file
    (ckdir / "model.safetensors").write_bytes(good["model.safetensors"][:100] + b"garbage")
    refused("does not match its recorded hash")
    # 2. a pickle planted where the model should be: refused by hash, and by format when the hash is forged too
    marker = tmp_path / "unpickled"
    (ckdir / "model.safetensors").write_bytes(pickle.dumps({"w": _Planted(str(marker))}))
    refused("does not match its recorded hash")
    state = json.loads(good["state.json"])
    state["sha256"]["model.safetensors"] = __import__("hashlib").sha256((ckdir / "model.safetensors").read_bytes()).hexdigest()
    (ckdir / "state.json").write_text(json.dumps(state))
    refused("not a valid safetensors file")
    assert not marker.exists()
    # 3. a checkpoint of another model size
    for name, data in good.items():
        (ckdir / name).write_bytes(data)
    c = run.config()
    c.model.n_embd = 64
    run.write_config(c)
    refused("another model")
    # the way out the refusals name: --force starts over from step 0 on the new model
    r = cli(workspace, "train", run.name, "--iters", "10", "--force")
    assert r.exit_code == 0, r.output
    state = json.loads((ckdir / "state.json").read_text())
    assert state["step"] == 10 and state["model"]["n_embd"] == 64
    assert not (run.stage_dir("train") / "report.json").exists()
    # 4. a sample request without any checkpoint is a user error too
    other = model_synth.make_run(workspace, "untrained")
    r = cli(workspace, "sample", other.name)
    assert r.exit_code == 2 and "nfgen train untrained" in r.stderr
    assert len([e for e in run.events()[0] if e.get("step", 0) > 20]) == 0
    assert len(run.events()[0]) > n_events  # the refusals were logged as failed starts, nothing else


def test_diverging_loss_stops_and_keeps_the_last_good_checkpoint(workspace):
    run = model_synth.make_run(workspace, overrides=["train.ckpt_every=10"])
    run_train(run, iters=10)
    before = ckpt_bytes(run)
    c = run.config()
    c.train.lr = c.train.min_lr = 1e30
    run.write_config(c)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        run_train(run, iters=30)
    assert ckpt_bytes(run) == before
    assert json.loads(before["state.json"])["step"] == 10
    assert run.stage_state("train") == "failed"


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_training_follows_the_eager_loss_curve_and_checkpoints_plain_weights(workspace):
    torch._dynamo.reset()
    common = ["model.n_layer=1", "train.iters=12", "train.ckpt_every=6", "train.eval_every=6"]
    eager = model_synth.make_run(workspace, "eager", [*common, "train.compile=false"])
    compiled = model_synth.make_run(workspace, "compiled", [*common, "train.compile=true"])
    from torch._dynamo.utils import counters

    run_train(eager)
    assert counters["stats"]["unique_graphs"] == 0
    res = run_train(compiled)
    assert counters["stats"]["unique_graphs"] >= 1  # really compiled, not a silent eager fallback
    a, b = losses(eager), losses(compiled)
    assert sorted(a) == sorted(b) == list(range(1, 13))
    assert max(abs(a[s] - b[s]) for s in a) < 1e-3  # the same optimisation, fused kernels round a little otherwise
    assert res["val_loss"] == pytest.approx(run_train(eager)["val_loss"], abs=1e-3)
    stored = load_file(str(compiled.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert not any(k.startswith("_orig_mod") for k in stored)  # the module's own names: eager sampling loads them
