"""The generators' weight average (`model/ema.py`) is bias-corrected: nothing of the random initial weights."""

import torch
import torch.nn as nn

from nfgen_tui.model import ema


def test_the_average_weighs_only_the_trained_weights():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ema.attach(model)
    decay, seen = 0.9, []
    for n in range(1, 6):
        with torch.no_grad():
            for p in ema.own_parameters(model):
                p.add_(torch.randn_like(p))
        seen.append([p.detach().clone() for p in ema.own_parameters(model)])
        ema.update(model, decay, n)
        if n == 1:  # the first step's weights alone: the initial ones have no share
            assert all(torch.equal(s, w) for s, w in zip(model.ema.tensors(), seen[0]))
    coef = torch.tensor([decay ** (5 - i) for i in range(1, 6)], dtype=torch.float64)
    coef /= coef.sum()
    for j, shadow in enumerate(model.ema.tensors()):
        want = sum(c * seen[i][j].double() for i, c in enumerate(coef))
        assert torch.allclose(shadow.double(), want, atol=1e-6)


def test_the_newest_weight_tends_to_one_minus_decay():
    assert ema.step_weight(0.999, 1) == 1.0
    assert abs(ema.step_weight(0.999, 100_000) - 0.001) < 1e-12
