import numpy as np
import pytest
from PIL import Image

from nfgen_tui.data import load_dataset, select, stratified_split
from nfgen_tui.data.split import stratified_limit
from nfgen_tui.errors import UserError


def test_mnist5k_is_5000_digits_in_unit_range(mnist5k):
    assert mnist5k.images.shape == (5000, 28, 28)
    assert mnist5k.images.dtype == np.float32
    assert 0.0 <= mnist5k.images.min() and mnist5k.images.max() <= 1.0 and mnist5k.images.max() > 0.99
    assert mnist5k.class_counts() == [500] * 10


def test_split_is_stratified_and_reproducible(mnist5k):
    s1 = stratified_split(mnist5k.labels, 0.1, seed=3)
    s2 = stratified_split(mnist5k.labels, 0.1, seed=3)
    assert np.array_equal(s1, s2)
    assert np.bincount(mnist5k.labels[s1 == 1], minlength=10).tolist() == [50] * 10
    assert not np.array_equal(s1, stratified_split(mnist5k.labels, 0.1, seed=4))


def test_limit_is_balanced_over_classes(mnist5k):
    images, labels, split = select(mnist5k, limit=95, holdout=0.2, seed=0)
    counts = np.bincount(labels, minlength=10)
    assert len(labels) == 95 and counts.max() - counts.min() <= 1
    assert images.shape == (95, 28, 28) and split.sum() >= 10
    assert np.array_equal(stratified_limit(mnist5k.labels, 95, 0), stratified_limit(mnist5k.labels, 95, 0))


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray((rng.random((40, 32, 3)) * 255).astype(np.uint8)).save(tmp_path / cls / f"{i}.png")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.images.shape == (6, 28, 28) and ds.classes == ["cat", "dog"] and ds.class_counts() == [3, 3]


def test_unusable_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown dataset"):
        load_dataset("cifar")
    with pytest.raises(UserError, match="not a readable directory"):
        load_dataset(f"folder:{tmp_path / 'none'}")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"not an image")
    (tmp_path / "b" / "y.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read image"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(UserError, match="prepare mnist --download"):
        load_dataset("mnist", tmp_path / "empty")
