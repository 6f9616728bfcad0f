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
