"""Drawing evaluation sets: without replacement, as class-balanced as the data allows, reproducible.

The reference drew its reference subset *with* replacement, and duplicates distort 1-NNA (a duplicate is its own
nearest neighbour at distance 0). Here every set is a prefix of a class-balanced permutation, so any size taken from
it is balanced and distinct, and the same seed gives the same set every time.
"""

from __future__ import annotations

import numpy as np


def balanced_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A permutation of range(len(labels)) whose every prefix is as class-balanced as possible: classes take turns
    (each class's items shuffled), a class that runs out drops out of the rotation."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # item k of class c gets rank k; a stable sort by rank interleaves the classes round-robin
    ranks = np.empty(len(labels), dtype=np.int64)
    class_pos = np.empty(len(labels), dtype=np.int64)
    for ci, pool in enumerate(pools):
        ranks[pool] = np.arange(len(pool))
        class_pos[pool] = ci
    items = np.concatenate(pools) if pools else np.empty(0, dtype=np.int64)
    order = np.lexsort((class_pos[items], ranks[items]))
    return items[order]


def balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of min(n, len(labels)) distinct items, class-balanced, drawn with `seed`."""
    return balanced_order(labels, seed)[: max(0, min(n, len(labels)))]
