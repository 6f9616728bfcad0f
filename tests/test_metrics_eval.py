"""`run_eval` end to end on a tiny real run (fit → codebook → train → sample → eval), and memorization on copies."""

import json

import numpy as np
import pytest
import torch

from nfgen_tui import config as cfgmod
from nfgen_tui.errors import UserError
from nfgen_tui.metrics.memorization import nearest_training_ssim, summarize

CONTRACT_KEYS = ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "memorization_rate",
                 "baselines")
ROW_KEYS = ("mmd", "cov", "nna", "n_generated", "n_reference", "classifier_accuracy", "classifier_confidence",
            "memorization_rate", "memorization_quantiles")


def test_memorization_finds_copies_and_not_other_digits(mnist5k):
    train = mnist5k.images[:300]
    copies, others = train[[5, 17, 250]], mnist5k.images[4000:4003]
    near = nearest_training_ssim(np.concatenate([copies, others]), train)
    assert torch.allclose(near[:3], torch.ones(3), atol=1e-5)
    assert (near[3:] < 0.95).all()
    s = summarize(near, 0.95)
    assert s["memorization_rate"] == pytest.approx(0.5)
    q = list(s["memorization_quantiles"].values())
    assert q == sorted(q) and q[-1] == pytest.approx(1.0, abs=1e-5)


def test_eval_end_to_end_on_a_tiny_run(workspace):
    from nfgen_tui.fields.stage import run_fit
    from nfgen_tui.metrics.stage import run_eval
    from nfgen_tui.model.stage import run_sample, run_train
    from nfgen_tui.tokens.stage import run_codebook

    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["data.limit=150", "data.holdout=0.2", "fields.steps=20", "fields.hidden=[8,8]",
                               "codebook.size=16", "codebook.iters=3", "model.n_layer=1", "model.n_head=2",
                               "model.n_embd=32", "train.iters=10", "train.eval_every=5", "train.ckpt_every=5",
                               "sample.n_per_class=4", "eval.set_size=40", "eval.classifier_epochs=1", "device=cpu"])
    run = workspace.create_run("tiny", c)
    for stage in (run_fit, run_codebook, run_train):
        stage(run)
    with pytest.raises(UserError, match="no samples yet: run `nfgen sample tiny`"):
        run_eval(run)
    run_sample(run, digit=3)  # not the default sample: still nothing to evaluate
    with pytest.raises(UserError, match="no samples yet"):
        run_eval(run)
    run_sample(run)

    r = run_eval(run)
    assert all(k in r for k in CONTRACT_KEYS)
    assert r["n_generated"] == r["n_reference"] == 40 and r["ssim"] == "gaussian"
    assert set(r["baselines"]) == {"held-out real", "marginal", "train + noise"}
    for row in [r, *r["baselines"].values()]:
        assert all(k in row for k in ROW_KEYS)
        assert 0 <= row["mmd"] <= 1 and 0 < row["cov"] <= 1 and 0 <= row["nna"] <= 1
        assert row["n_generated"] == row["n_reference"]  # equal sizes everywhere
    # only 30 held-out fields exist: that baseline meets the reference's first 30 (a class-balanced prefix)
    assert r["baselines"]["held-out real"]["n_generated"] == 30 and r["baselines"]["marginal"]["n_generated"] == 40
    assert sorted(r["per_class"]) == [str(d) for d in range(10)]
    assert all(v["n_generated"] == v["n_reference"] == 4 for v in r["per_class"].values())
    # ten training steps make blobs: real held-out digits beat them on every axis
    held = r["baselines"]["held-out real"]
    assert held["nna"] < r["nna"] and held["mmd"] < r["mmd"] and held["classifier_accuracy"] > r["classifier_accuracy"]
    assert r["reference_published"]["cov"] == 0.2773 and r["classifier"]["epochs"] == 1
    stored = json.loads((run.dir / "eval" / "metrics.json").read_text())
    assert stored == json.loads(json.dumps(r))
    assert run.stage_state("eval") == "done"

    assert run_eval(run) == stored  # finished: the stored report, not a recomputation
    again = run_eval(run, force=True)  # recomputed: same seed, same sets, same numbers
    for k in ("mmd", "cov", "nna", "classifier_accuracy", "memorization_rate"):
        assert again[k] == pytest.approx(r[k], abs=1e-6)
        assert again["baselines"]["marginal"][k] == pytest.approx(r["baselines"]["marginal"][k], abs=1e-6)
