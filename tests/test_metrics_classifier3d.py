"""The in-tool point-cloud classifier learns to tell spheres from boxes (random sizes, placements, proportions) on
tiny data, and is reproducible by seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from nfgen_tui.geometry.surface import sample_surface
from nfgen_tui.errors import UserError
from nfgen_tui.modality.occupancy3d.classifier import classify3d, get_classifier3d, score3d, train_classifier3d
from nfgen_tui.workspace import Workspace


def shapes(n: int, seed: int, points: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """n spheres (label 0) and n boxes (label 1), each scaled, stretched and moved at random, as surface clouds."""
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for i in range(2 * n):
        label = i % 2
        mesh = trimesh.creation.icosphere(2, radius=0.5) if label == 0 else trimesh.creation.box(extents=(1, 1, 1))
        v = mesh.vertices * rng.uniform(0.5, 1.0) * rng.uniform(0.8, 1.25, size=3) + rng.uniform(-0.2, 0.2, size=3)
        clouds.append(sample_surface(v, mesh.faces, points, seed=int(rng.integers(1 << 30))))
        labels.append(label)
    return np.stack(clouds), np.array(labels)


@pytest.fixture(scope="module")
def trained():
    x, y = shapes(24, seed=0)
    return train_classifier3d(x, y, epochs=15, seed=0)


def test_separates_spheres_from_boxes_on_held_out_shapes(trained):
    x, y = shapes(20, seed=1)
    result = score3d(trained, x, y)
    assert result["classifier_accuracy"] >= 0.9
    assert result["classifier_confidence"] > 0.6
    # a flipped label set scores accordingly: the score is about the labels, not a constant
    assert score3d(trained, x, 1 - y)["classifier_accuracy"] <= 0.1


def test_probabilities_are_per_cloud_and_order_free(trained):
    x, _ = shapes(3, seed=2)
    p = classify3d(trained, x)
    assert p.shape == (6, 2) and torch.allclose(p.sum(1), torch.ones(6))
    shuffled = x[:, np.random.default_rng(0).permutation(x.shape[1])]
    assert torch.allclose(classify3d(trained, shuffled), p, atol=1e-6)


def test_training_is_reproducible_by_seed():
    x, y = shapes(4, seed=3, points=64)
    a = classify3d(train_classifier3d(x, y, epochs=2, seed=5), x)
    b = classify3d(train_classifier3d(x, y, epochs=2, seed=5), x)
    c = classify3d(train_classifier3d(x, y, epochs=2, seed=6), x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_shape_is_refused(trained):
    with pytest.raises(ValueError, match=r"\[N, S, 3\]"):
        classify3d(trained, np.zeros((2, 10)))


def test_cached_per_training_set_and_epochs(tmp_path):
    """Trained once per (training clouds, labels, epochs, seed); the cache returns the same network; other labels
    get their own entry; a damaged cache file is a user error naming the way out."""
    ws = Workspace(tmp_path / "ws")
    x, y = shapes(4, seed=3, points=64)
    held = shapes(2, seed=4, points=64)
    first, rep = get_classifier3d(ws, "shapes", x, y, 2, epochs=2, seed=5, held=held)
    assert rep["cached"] is False and rep["n_train"] == 8 and rep["n_test"] == 4 and 0 <= rep["accuracy"] <= 1
    again, rep2 = get_classifier3d(ws, "shapes", x, y, 2, epochs=2, seed=5, held=held)
    assert rep2["cached"] is True and rep2["dir"] == rep["dir"] and rep2["accuracy"] == rep["accuracy"]
    assert torch.equal(classify3d(first, x), classify3d(again, x))
    _, other = get_classifier3d(ws, "shapes", x, 1 - y, 2, epochs=2, seed=5)
    assert other["cached"] is False and other["dir"] != rep["dir"]
    _, more = get_classifier3d(ws, "shapes", x, y, 2, epochs=3, seed=5)
    assert more["cached"] is False and more["epochs"] == 3
    (Path(more["dir"]) / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(UserError, match="--force"):
        get_classifier3d(ws, "shapes", x, y, 2, epochs=3, seed=5)
    _, forced = get_classifier3d(ws, "shapes", x, y, 2, epochs=3, seed=5, force=True)
    assert forced["cached"] is False
    assert get_classifier3d(ws, "shapes", x, y, 2, epochs=3, seed=5)[1]["cached"] is True
