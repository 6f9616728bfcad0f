"""A real, tiny run trained through the stage functions (fit → codebook → train), for tests that need a model."""

from __future__ import annotations

from nfgen_tui import config as cfgmod

# sizes that make every stage take a second or two; the results are blobs, fine for the machinery
TINY_TRAINED = ["model.kind=gpt", "data.limit=150", "data.holdout=0.2", "fields.steps=20", "fields.hidden=[8,8]", "fields.subspace=0", "diffusion.target=weights", "codebook.size=16",
                "codebook.iters=3", "model.n_layer=1", "model.n_head=2", "model.n_embd=32", "train.iters=10",
                "train.eval_every=5", "train.ckpt_every=5", "device=cpu"]


def trained_run(workspace, overrides: list[str], name: str = "tiny"):
    """Create run `name` from the quick preset with `overrides` and run fit, codebook and train on the CPU."""
    from nfgen_tui.stages.fit import run_fit
    from nfgen_tui.model.stage import run_train
    from nfgen_tui.tokens.stage import run_codebook

    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, overrides)
    run = workspace.create_run(name, c)
    for stage in (run_fit, run_codebook, run_train):
        stage(run, device="cpu")
    return run


def kill_9_at_first_joint_checkpoint(run, timeout: float = 240) -> None:
    """`nfgen fit RUN` (a `fields.subspace` run) in a subprocess of its own session, kill -9 once the joint phase has
    written its first checkpoint; the stage must then read interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    cmd = [sys.executable, "-m", "nfgen_tui.cli", "--workspace", str(run.workspace.root), "fit", run.name]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads())))
    state = run.stage_dir("fit") / "subspace_state.safetensors"
    try:
        deadline = time.time() + timeout
        while not state.exists():
            assert proc.poll() is None and time.time() < deadline, "the fit ended before the kill"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert run.stage_state("fit") == "interrupted" and not run.is_done("fit")
