"""Batched all-pairs Chamfer against independent per-pair computations: scipy's k-d tree and explicit float64
differences (each method is checked against the reference it does not share code with, and against both)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from nfgen_tui.modality.occupancy3d.chamfer import chamfer_pairs


def kdtree_chamfer(x: np.ndarray, y: np.ndarray) -> float:
    dx, _ = cKDTree(y).query(x)
    dy, _ = cKDTree(x).query(y)
    return float((dx ** 2).mean() + (dy ** 2).mean())


def explicit_chamfer(x: np.ndarray, y: np.ndarray) -> float:
    sq = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return float(sq.min(1).mean() + sq.min(0).mean())


def reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    ref = np.array([[kdtree_chamfer(x, y) for y in b] for x in a])
    assert np.allclose(ref, [[explicit_chamfer(x, y) for y in b] for x in a], rtol=1e-10)
    return ref


def clouds(n: int, s: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, s, 3)) * rng.uniform(0.2, 1.0, size=(n, 1, 3))).astype(np.float32)


@pytest.mark.parametrize("method,chunk", [("brute", None), ("brute", 1), ("brute", 5), ("kdtree", None)])
def test_matches_independent_per_pair_references(method, chunk):
    a, b = clouds(5, 200, 0), clouds(4, 150, 1)
    d = chamfer_pairs(a, b, chunk=chunk, method=method)
    assert d.shape == (5, 4) and d.dtype == torch.float32
    assert np.allclose(d.numpy(), reference(a, b), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["brute", "kdtree"])
def test_symmetric_and_zero_on_identical_sets(method):
    a = clouds(6, 120, 2)
    d = chamfer_pairs(a, chunk=4, method=method)
    assert torch.equal(d, d.T) and torch.equal(torch.diagonal(d), torch.zeros(6))
    assert (d + torch.eye(6) > 0).all()
    assert np.allclose(d.numpy(), reference(a, a), rtol=1e-4, atol=1e-6)
    # both directions of a cross pair agree, and a cloud compared with a copy of itself is zero
    ab, ba = chamfer_pairs(a[:3], a[3:], method=method), chamfer_pairs(a[3:], a[:3], method=method)
    assert np.allclose(ab.numpy(), ba.T.numpy(), rtol=1e-5)
    assert torch.diagonal(chamfer_pairs(a[:2], a[:2].copy(), method=method)).abs().max() < 1e-6


@pytest.mark.parametrize("method", ["brute", "kdtree"])
def test_known_value_on_two_single_point_clouds(method):
    d = chamfer_pairs(np.array([[[0, 0, 0]]], np.float32), np.array([[[3, 4, 0]]], np.float32), method=method)
    assert d.item() == pytest.approx(50.0)  # 25 each way: squared distances, the two directions summed


@pytest.mark.parametrize("method,expected", [("kdtree", [(1, 3), (2, 3), (3, 3)]),
                                             ("brute", [(1, 4), (2, 4), (3, 4), (4, 4)])])
def test_progress_counts_to_its_total(method, expected):
    calls = []
    chamfer_pairs(clouds(3, 20, 5), clouds(4, 20, 6), chunk=6, method=method,
                  progress=lambda done, total, **_: calls.append((done, total)))
    assert calls == expected  # brute: 3 x 4 pairs in blocks of up to 2 x 3: two row bands x two column bands


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"\[n, S, 3\]"):
        chamfer_pairs(np.zeros((2, 5, 2)), np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="method"):
        chamfer_pairs(np.zeros((2, 5, 3)), method="exact")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_the_reference():
    a, b = clouds(9, 300, 3), clouds(7, 250, 4)
    torch.backends.cuda.matmul.allow_tf32 = True  # as a training loop might leave it: must not leak into Chamfer
    try:
        gpu = chamfer_pairs(a, b, device="cuda", chunk=10)
        gpu_self = chamfer_pairs(a, device="cuda", chunk=4)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
    assert np.allclose(gpu.numpy(), reference(a, b), rtol=1e-4, atol=1e-6)
    assert np.allclose(gpu_self.numpy(), reference(a, a), rtol=1e-4, atol=1e-6)
