"""MMD / COV / 1-NNA on hand-made distance matrices with known answers, on real digits, and set drawing."""

import numpy as np
import pytest
import torch

from nfgen_tui.errors import UserError
from nfgen_tui.metrics.generative import Distances, cov, distances, mmd, nna, set_metrics
from nfgen_tui.metrics.sets import balanced_order, balanced_subset


def line_distances(g, r):
    """Points on a line, D = |a − b|: every metric can be worked out by hand."""
    g, r = torch.tensor(g, dtype=torch.float32), torch.tensor(r, dtype=torch.float32)
    d = lambda a, b: (a[:, None] - b[None, :]).abs()  # noqa: E731
    return Distances(d(g, g), d(r, r), d(g, r))


def test_hand_made_mmd_and_cov():
    d = line_distances([0.0, 1.0, 5.0], [0.2, 0.9, 3.0])
    # reference 0.2 → nearest gen 0 (0.2); 0.9 → 1 (0.1); 3.0 → 1 or 5 (2.0)
    assert mmd(d.gr) == pytest.approx((0.2 + 0.1 + 2.0) / 3)
    # gen 0 → ref 0.2, gen 1 → ref 0.9, gen 5 → ref 3.0: all three covered
    assert cov(d.gr) == 1.0
    d = line_distances([0.0, 0.1, 0.2], [0.0, 10.0, 20.0])
    assert cov(d.gr) == pytest.approx(1 / 3)  # everything lands on reference 0


def test_cov_ties_take_the_lowest_reference_index():
    gr = torch.tensor([[0.1, 0.1, 0.5], [0.3, 0.2, 0.2]])
    assert torch.argmin(gr, dim=1).tolist() == [0, 1]
    assert cov(gr) == pytest.approx(2 / 3)


def test_nna_far_apart_sets_is_one_and_interleaved_is_zero():
    assert nna(line_distances([0, 1, 2, 3], [100, 101, 102, 103])) == 1.0
    # perfectly interleaved: every point's nearest neighbour is in the other set
    assert nna(line_distances([0, 10, 20], [1, 11, 21])) == 0.0


def test_nna_never_picks_the_item_itself_and_splits_ties():
    # all four points coincide: each has one own-set and two other-set neighbours at distance 0 → 1/3 each
    assert nna(line_distances([0.0, 0.0], [0.0, 0.0])) == pytest.approx(1 / 3)
    # duplicates within the generated set are real neighbours (only the item itself is excluded)
    # (reference 10 is 10 away from two generated copies and from reference 20: a third of a hit; same for 40)
    assert nna(line_distances([0.0, 0.0, 50.0, 50.0], [10.0, 20.0, 30.0, 40.0])) == pytest.approx((4 + 2 + 2 / 3) / 8)


def test_two_halves_of_real_digits_score_near_half_and_shifted_sets_near_one(mnist5k):
    idx = np.random.default_rng(3).permutation(len(mnist5k.labels))[:160]
    a, b = mnist5k.images[idx[:80]], mnist5k.images[idx[80:]]
    m = set_metrics(distances(a, b))
    assert m["n_generated"] == m["n_reference"] == 80
    assert 0.35 <= m["nna"] <= 0.65
    assert m["cov"] > 0.4
    # generated = the digits shifted by 4 pixels: easily told apart
    shifted = np.roll(a, 4, axis=2)
    far = set_metrics(distances(shifted, b))
    assert far["nna"] > 0.9 and far["mmd"] > m["mmd"]


def test_metrics_are_invariant_to_set_order(mnist5k):
    g, r = mnist5k.images[:40], mnist5k.images[2000:2040]
    base = set_metrics(distances(g, r))
    rng = np.random.default_rng(0)
    again = set_metrics(distances(g[rng.permutation(40)], r[rng.permutation(40)]))
    for k in ("mmd", "cov", "nna"):
        assert again[k] == pytest.approx(base[k], abs=1e-6)


def test_subset_of_distances_equals_recomputing(mnist5k):
    g, r = mnist5k.images[:20], mnist5k.images[3000:3020]
    d = distances(g, r)
    gi, ri = np.array([1, 4, 7, 9]), np.array([0, 2, 3, 19])
    direct = set_metrics(distances(g[gi], r[ri], rr=None))
    sub = set_metrics(d.subset(gi, ri))
    for k in ("mmd", "cov", "nna"):
        assert sub[k] == pytest.approx(direct[k], abs=1e-6)


def test_set_metrics_need_two_items():
    with pytest.raises(UserError, match="at least 2"):
        set_metrics(line_distances([0.0], [1.0, 2.0]))


def test_balanced_order_prefixes_are_balanced_distinct_and_seeded():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 7)
    order = balanced_order(labels, seed=5)
    assert sorted(order.tolist()) == list(range(20))
    assert np.bincount(labels[order[:9]], minlength=3).tolist() == [3, 3, 3]
    assert np.bincount(labels[order[:12]], minlength=3).tolist() == [5, 3, 4]  # class 1 ran out after 3
    assert np.array_equal(order, balanced_order(labels, seed=5))
    assert not np.array_equal(order, balanced_order(labels, seed=6))
    assert len(balanced_subset(labels, 100, 0)) == 20
