"""Batched SSIM equals scikit-image's structural_similarity on every pair, in both modes, whatever the chunking."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from nfgen_tui.errors import UserError
from nfgen_tui.metrics import ssim as S

SKIMAGE = {"gaussian": dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False), "uniform": {}}


def skimage_matrix(x, y, mode):
    return np.array([[structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1,
                                            **SKIMAGE[mode]) for b in y] for a in x])


@pytest.fixture(scope="module")
def images(mnist5k):
    """Real digits plus the hard cases: pure noise, a constant grey, all black, all white, and a duplicate."""
    rng = np.random.default_rng(0)
    x = mnist5k.images[:10].copy()
    y = mnist5k.images[500:508].copy()
    x[0] = rng.random((28, 28))
    x[1] = 0.37
    y[0] = 0.0
    y[1] = 1.0
    y[2] = x[2]  # identical pair
    return x, y


@pytest.mark.parametrize("mode", ["gaussian", "uniform"])
def test_all_pairs_equal_skimage(images, mode):
    x, y = images
    ours = S.ssim_matrix(x, y, mode).double().numpy()
    ref = skimage_matrix(x, y, mode)
    assert ours.shape == (10, 8)
    assert np.abs(ours - ref).max() <= 1e-5
    assert ours[2, 2] == pytest.approx(1.0, abs=1e-5)  # identical images
    # both constant → luminance term only; the grey vs black pair is far from 1
    assert ref[1, 0] < 0.1 and abs(ours[1, 0] - ref[1, 0]) <= 1e-5


@pytest.mark.parametrize("mode", ["gaussian", "uniform"])
def test_self_matrix_is_symmetric_and_equals_skimage(images, mode, monkeypatch):
    x = np.concatenate(images)
    monkeypatch.setattr(S, "BLOCK_ELEMENTS_CPU", 5 * 5 * 484)  # blocks of ≤ 5 images: many off-diagonal blocks
    ours = S.ssim_matrix(x, None, mode).double().numpy()
    assert np.abs(ours - skimage_matrix(x, x, mode)).max() <= 1e-5
    assert np.array_equal(ours, ours.T)
    assert np.abs(np.diag(ours) - 1).max() <= 1e-5


def test_chunking_does_not_change_results(images, monkeypatch):
    x, y = images
    whole = S.ssim_matrix(x, y)
    monkeypatch.setattr(S, "BLOCK_ELEMENTS_CPU", 3 * 3 * 324)
    chunked = S.ssim_matrix(x, y)
    assert torch_close(whole, chunked)
    d = S.ssim_distance_matrix(x, y)
    assert torch_close(d, (1 - whole) / 2)


def torch_close(a, b, tol=1e-6):
    return float((a - b).abs().max()) <= tol


def test_non_square_images_and_random_noise():
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 20, 31)), rng.random((3, 20, 31)) ** 2
    for mode in ("gaussian", "uniform"):
        assert np.abs(S.ssim_matrix(x, y, mode).numpy() - skimage_matrix(x, y, mode)).max() <= 1e-5


def test_pairs_and_nearest_agree_with_the_matrix(images, monkeypatch):
    x, y = images
    m = S.ssim_matrix(x, y)
    pairs = S.ssim_pairs(x[:8], y)
    assert torch_close(pairs, m.diagonal()[:8])
    monkeypatch.setattr(S, "BLOCK_ELEMENTS_CPU", 3 * 3 * 324)
    best, arg = S.ssim_nearest(x, y)
    assert torch_close(best, m.max(dim=1).values)
    assert arg[2] == 2  # the duplicate is its own nearest training image
    assert (m[np.arange(10), arg] == m.max(dim=1).values).all()


def test_rejects_images_smaller_than_the_window():
    with pytest.raises(UserError, match="smaller than the 11"):
        S.ssim_matrix(np.zeros((2, 10, 10)), np.zeros((2, 10, 10)))
    with pytest.raises(UserError, match="N×H×W"):
        S.ssim_matrix(np.zeros((2, 28)), None)
    with pytest.raises(UserError, match="unknown SSIM mode"):
        S.window("box")
