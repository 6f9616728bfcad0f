"""Batched fitting: real digits reach a real PSNR, batching changes nothing, shared inits keep fields alike."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from float_bounds import assert_adam_twins, lr_total
from nfgen_tui.config import FieldsConfig
from nfgen_tui.fields.fit import field_lr
from nfgen_tui.data import load_dataset, select
from nfgen_tui.fields import fit_fields, layout_from_config, render, weight_spread
from nfgen_tui.fields.init import chunk_init, seeded_init

DEFAULTS = FieldsConfig()


@pytest.fixture(scope="module")
def digits():
    images, labels, _ = select(load_dataset("mnist-5k"), 20, 0.0, 0)  # two of each class
    return torch.from_numpy(images), labels


@pytest.fixture(scope="module")
def fitted(digits):
    """Six digits fitted with the quick preset's settings from the `first` shared init."""
    images, _ = digits
    lay = layout_from_config(DEFAULTS)
    first, _, _ = fit_fields(images[:1], seeded_init(lay, 0)[None], lay, steps=DEFAULTS.steps, lr=DEFAULTS.lr,
                             schedule=DEFAULTS.schedule)
    w, psnr, loss = fit_fields(images[:6], first.repeat(6, 1), lay, steps=DEFAULTS.steps, lr=DEFAULTS.lr,
                               schedule=DEFAULTS.schedule)
    return lay, w, psnr, loss, images[:6]


def test_a_handful_of_digits_fit_above_30_db(fitted):
    lay, w, psnr, loss, images = fitted
    assert w.shape == (6, 561) and torch.isfinite(w).all()
    assert psnr.mean() >= 30.0 and psnr.min() >= 25.0, psnr  # 60 digits measured: mean 35.6, p10 32.6, min 30.5
    again = render(w, lay, 28)  # the reported PSNR is the rendered image's
    mse = (again - images).pow(2).flatten(1).mean(1)
    assert torch.allclose(-10 * torch.log10(mse), psnr, atol=1e-3)


def test_rendering_at_56_px_looks_like_28_px(fitted):
    lay, w, _, _, _ = fitted
    small = render(w, lay, 28).numpy()
    big = render(w, lay, 56)
    assert big.shape == (6, 56, 56) and float(big.min()) >= 0.0 and float(big.max()) <= 1.0
    down = torch.nn.functional.avg_pool2d(big[:, None], 2)[:, 0].numpy()
    scores = [structural_similarity(a, b, data_range=1.0) for a, b in zip(small, down)]
    assert min(scores) > 0.95, scores
    # and not trivially: a different digit scores far lower
    assert structural_similarity(small[0], down[3], data_range=1.0) < 0.7


def test_batched_and_one_at_a_time_fitting_agree(digits):
    images, _ = digits
    lay = layout_from_config(DEFAULTS)
    init = chunk_init("random", lay, 5, 0, 4, None)
    together, psnr, _ = fit_fields(images[:4], init, lay, steps=40, lr=DEFAULTS.lr, schedule="cosine")
    for i in range(4):
        alone, p, _ = fit_fields(images[i:i + 1], init[i:i + 1], lay, steps=40, lr=DEFAULTS.lr, schedule="cosine")
        # one field's matmuls round in another order than a batch's (bounds: tests/float_bounds.py)
        assert_adam_twins({"w": alone[0]}, {"w": together[i]},
                          lr_total(lambda s: field_lr(s, 40, DEFAULTS.lr, "cosine"), 40))
        assert abs(float(p[0] - psnr[i])) < 1e-2
    assert not torch.allclose(together, init, atol=1e-3)  # it did move


def test_shared_init_gives_lower_weight_spread_than_random(digits):
    images, _ = digits
    lay = layout_from_config(DEFAULTS)
    n = 10
    first, _, _ = fit_fields(images[:1], seeded_init(lay, 0)[None], lay, steps=100, lr=DEFAULTS.lr, schedule="cosine")
    spread = {}
    for mode in ("first", "shared-random", "random"):
        template = first[0] if mode == "first" else seeded_init(lay, 0)
        w, psnr, _ = fit_fields(images[:n], chunk_init(mode, lay, 0, 0, n, template), lay, steps=100, lr=DEFAULTS.lr, schedule="cosine")
        assert psnr.mean() > 18  # 100 steps: a start, enough to compare where the weights went
        spread[mode] = weight_spread(w)
    assert spread["first"] < 0.6 * spread["random"], spread
    assert spread["shared-random"] < 0.6 * spread["random"], spread


def test_siren_fits_with_mse(digits):
    images, _ = digits
    lay = layout_from_config(FieldsConfig(arch="siren"))
    init = chunk_init("random", lay, 0, 0, 3, None)
    start = render(init, lay, 28)
    w, psnr, _ = fit_fields(images[:3], init, lay, steps=150, lr=3e-3, schedule="cosine")
    before = -10 * torch.log10((start - images[:3]).pow(2).flatten(1).mean(1))
    assert (psnr > before + 5).all(), (before, psnr)
    assert np.isfinite(psnr.numpy()).all()
