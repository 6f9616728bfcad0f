"""`nfgen pipeline` end to end on a tiny run: idempotent, survives kill -9 anywhere, refuses bad inputs cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from nfgen_tui.cli import app

TINY = ["model.kind=gpt", "data.limit=120", "data.holdout=0.2", "fields.steps=30", "fields.hidden=[8,8]", "fields.subspace=0", "diffusion.target=weights", "fields.chunk_size=40",
        "codebook.size=16", "codebook.iters=3", "model.n_layer=1", "model.n_head=2", "model.n_embd=32",
        "train.iters=40", "train.eval_every=10", "train.ckpt_every=5", "train.log_every=5",
        "sample.n_per_class=3", "eval.set_size=30", "eval.classifier_epochs=1", "device=cpu"]
runner = CliRunner()


def pipeline_args(ws, run: str, overrides, head=()) -> list[str]:
    """`--workspace W pipeline RUN [head…] --json --set …` (head: e.g. the preset and dataset of a new run)."""
    args = ["--workspace", str(ws.root), "pipeline", run, *head, "--json"]
    for o in overrides:
        args += ["--set", o]
    return args


def pipeline(ws, run="tiny", extra=()):
    return runner.invoke(app, [*pipeline_args(ws, run, TINY), *extra])


def spawn_pipeline(ws, run="tiny", overrides=TINY, head=()) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nfgen_tui.cli", *pipeline_args(ws, run, overrides, head)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            # as many threads as this process: CPU kernels' summation order depends on the count
                            env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(torch.get_num_threads())))


def wait_for_event(run_dir, pred, proc, timeout=240.0) -> None:
    path = run_dir / "events.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    if pred(json.loads(line)):
                        return
                except json.JSONDecodeError:
                    pass
        assert proc.poll() is None, "the pipeline ended before the point where it was to be killed"
        time.sleep(0.05)
    raise AssertionError("the event never came")


def finished_pipeline(tmp_path_factory, run_pipeline, folder: str):
    """(workspace, --json result) of one uninterrupted pipeline `run_pipeline(ws)` in a fresh workspace."""
    from nfgen_tui.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp(folder) / "w")
    r = run_pipeline(ws)
    assert r.exit_code == 0, r.output
    return ws, json.loads(r.stdout)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One uninterrupted tiny pipeline, shared by the tests that compare against it."""
    return finished_pipeline(tmp_path_factory, pipeline, "ws")


def test_pipeline_runs_every_stage_and_is_idempotent(finished):
    ws, result = finished
    run = ws.run("tiny")
    assert run.states() == {s: "done" for s in ("fit", "codebook", "train", "sample", "eval")}
    for key in ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "memorization_rate"):
        assert key in result["eval"]
    assert result["grid"].endswith("grid.png") and os.path.exists(result["grid"])
    mtimes = {p: p.stat().st_mtime_ns for p in run.dir.rglob("*") if p.is_file() and p.name != "events.jsonl"}
    t0 = time.perf_counter()
    again = pipeline(ws)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["eval"] == result["eval"]
    assert time.perf_counter() - t0 < 20
    changed = [p for p, m in mtimes.items() if p.exists() and p.stat().st_mtime_ns != m and ".locks" not in str(p)]
    assert changed == []  # nothing recomputed, nothing rewritten


@pytest.mark.parametrize("stage, when", [
    ("fit", lambda e: e.get("stage") == "fit" and e.get("chunk") == 1),
    ("train", lambda e: e.get("stage") == "train" and e.get("step", 0) >= 12 and "loss" in e),
])
def test_kill_9_mid_stage_then_rerun_matches_the_uninterrupted_run(finished, workspace, stage, when):
    ws_ref, ref = finished
    proc = spawn_pipeline(workspace)
    try:
        wait_for_event(workspace.run("tiny").dir, when, proc)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert workspace.run("tiny").stage_state(stage) == "interrupted"
    r = pipeline(workspace)
    assert r.exit_code == 0, r.output
    a = load_file(str(ws_ref.run("tiny").dir / "fields" / "weights.safetensors"))
    b = load_file(str(workspace.run("tiny").dir / "fields" / "weights.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)  # fitting is deterministic: bit-identical after a resume
    ta = load_file(str(ws_ref.run("tiny").dir / "codebook" / "tokens.safetensors"))["tokens"]
    tb = load_file(str(workspace.run("tiny").dir / "codebook" / "tokens.safetensors"))["tokens"]
    assert (ta == tb).all()
    got = json.loads(r.stdout)
    assert got["train"]["step"] == ref["train"]["step"] == 40
    assert got["train"]["loss"] == pytest.approx(ref["train"]["loss"], abs=1e-4)
    assert got["eval"]["n_generated"] == ref["eval"]["n_generated"]


def one_line_exit_2(result, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_bad_inputs_are_one_line_exit_2(finished, workspace):
    ws, _ = finished
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "pipeline", "a/b"]), "invalid run name")
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "pipeline", "..", "--json"]),
                    "invalid run name")
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "pipeline", "m", "--dataset",
                                        "folder:/nonexistent"]), "not a readable directory")
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "init", "n", "--set", "train.lr=-1"]),
                    "train.lr")
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "init", "n", "--set", "fields.steps=0"]),
                    "fields.steps")
    assert not (workspace.root / "runs" / "n").exists()

    # eval before any samples
    assert runner.invoke(app, ["--workspace", str(workspace.root), "init", "e", "--set", "data.limit=40"]).exit_code == 0
    one_line_exit_2(runner.invoke(app, ["--workspace", str(workspace.root), "eval", "e"]), "")


def test_corrupt_fields_file_is_refused_and_kept(finished, tmp_path):
    import shutil

    from nfgen_tui.workspace import Workspace

    src, _ = finished
    ws = Workspace(tmp_path / "copy")
    shutil.copytree(src.run("tiny").dir, ws.runs_dir / "tiny")
    weights = ws.run("tiny").dir / "fields" / "weights.safetensors"
    weights.write_bytes(b"\x00" * 64)
    for stage in ("codebook",):
        shutil.rmtree(ws.run("tiny").dir / stage)
    r = runner.invoke(app, ["--workspace", str(ws.root), "codebook", "tiny"])
    one_line_exit_2(r, "")
    assert weights.read_bytes() == b"\x00" * 64
