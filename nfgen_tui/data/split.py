"""Deterministic, stratified subsets and train / held-out splits shared by every stage."""

from __future__ import annotations

import numpy as np

from .datasets import Dataset


def stratified_limit(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most `limit` items with classes as balanced as the data allows (sorted, reproducible)."""
    n = len(labels)
    if limit <= 0 or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    pools = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    take = {c: 0 for c in classes}
    remaining = limit
    while remaining > 0:  # round-robin over classes that still have items
        progressed = False
        for c in classes:
            if remaining and take[c] < len(pools[c]):
                take[c] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            break
    return np.sort(np.concatenate([pools[c][: take[c]] for c in classes]))


def stratified_split(labels: np.ndarray, holdout: float, seed: int) -> np.ndarray:
    """0 = train, 1 = held out; `round(holdout * n_c)` items of each class c held out (at least 1 when holdout > 0)."""
    split = np.zeros(len(labels), dtype=np.int64)
    if holdout <= 0:
        return split
    rng = np.random.default_rng(seed + 1)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(1, int(round(holdout * len(idx)))) if len(idx) > 1 else 0
        split[rng.permutation(idx)[:k]] = 1
    return split


def select(ds: Dataset, limit: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's images, labels and split: the same for the same (dataset, limit, holdout, seed)."""
    idx = stratified_limit(ds.labels, limit, seed)
    labels = ds.labels[idx]
    return ds.images[idx], labels, stratified_split(labels, holdout, seed)
