"""`run_eval` end to end on a tiny real run (fit → codebook → train → sample → eval), and memorization on copies."""

import json

import numpy as np
import pytest
import torch

from nfgen_tui.errors import UserError
from nfgen_tui.metrics.memorization import nearest_training_ssim, summarize
from tiny_runs import TINY_TRAINED, trained_run

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
    from nfgen_tui.stages.evaluate import run_eval
    from nfgen_tui.model.stage import run_sample

    run = trained_run(workspace, [*TINY_TRAINED, "sample.n_per_class=4", "eval.set_size=40",
                                  "eval.classifier_epochs=1"])
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


def test_baselines_draw_from_the_right_split_and_are_seeded():
    from nfgen_tui.metrics import baselines

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)
    split = (torch.arange(60) % 20 >= 15).long()  # 5 held out per class
    weights = torch.randn(60, 7, generator=g) * torch.arange(1, 8)  # position j has spread ~j+1
    hw, hl = baselines.held_out(weights, labels, split, 100, seed=1)
    assert len(hl) == 15 and sorted(hl.tolist()) == [0] * 5 + [1] * 5 + [2] * 5
    assert all(any(torch.equal(w, v) for v in weights[split == 1]) for w in hw)
    nw, nl, std = baselines.train_plus_noise(weights, labels, split, 30, seed=2, noise_std=0.0)
    assert len(nl) == 30 and torch.allclose(std, weights[split == 0].std(0) / 4)
    nw2, _, _ = baselines.train_plus_noise(weights, labels, split, 30, seed=2, noise_std=0.0)
    assert torch.equal(nw, nw2)
    # class c's tokens at position j always come from class c's training sequences at position j
    tokens = torch.stack([labels * 100 + j + 1000 * split for j in range(5)], 1)
    want = np.array([0, 1, 2, 2, 1, 0])
    m = baselines.marginal_tokens(tokens, labels, split, want, seed=3)
    assert m.shape == (6, 5) and (m == torch.as_tensor(want)[:, None] * 100 + torch.arange(5)).all()
    assert torch.equal(m, baselines.marginal_tokens(tokens, labels, split, want, seed=3))
