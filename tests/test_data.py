import numpy as np
import pytest
from PIL import Image

from pathlib import Path

from nfgen_tui.data import load_dataset, select, stratified_split
from nfgen_tui.data.datasets import skipped_text
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
    with pytest.raises(UserError, match=r"class folder '.*/a' holds no usable image .*skipped 1 file: .*/a/x\.png .*Add images to it"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(UserError, match="prepare mnist --download"):
        load_dataset("mnist", tmp_path / "empty")


def write_folder(root, per_class: int = 3, seed: int = 0):
    """Two classes of random RGB PNGs, plus one truncated PNG and one stray text file in class `dog`."""
    rng = np.random.default_rng(seed)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((40, 32, 3)) * 255).astype(np.uint8)).save(root / cls / f"{i}.png")
    whole = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "broken.png").write_bytes(whole[:len(whole) // 2])  # a truncated file, as a copy cut short
    (root / "dog" / "notes.txt").write_text("labels checked by hand")
    return root


def test_one_unreadable_image_is_skipped_and_listed_not_fatal(tmp_path):
    root = write_folder(tmp_path / "imgs")
    ds = load_dataset(f"folder:{root}")
    assert ds.class_counts() == [3, 3] and ds.images.shape == (6, 28, 28)
    assert [(Path(p).name, why.split(":")[0]) for p, why in ds.skipped] == [("broken.png", "unreadable"),
                                                                          ("notes.txt", "not an image")]
    text = skipped_text(ds.skipped)
    assert text.startswith("skipped 2 files: ") and "broken.png (unreadable: " in text and "notes.txt (not an image)" in text


def test_skipped_list_names_the_first_few_and_counts_the_rest():
    skipped = [(f"d/{i}.png", "unreadable: x") for i in range(8)]
    assert skipped_text(skipped, 2) == "skipped 8 files: d/0.png (unreadable: x), d/1.png (unreadable: x), and 6 more"
    assert skipped_text([]) == ""


def test_class_names_without_loading_match_the_loaded_classes(tmp_path):
    from nfgen_tui.data import shapes
    from nfgen_tui.modality import class_names

    root = write_folder(tmp_path / "pets")
    assert class_names(f"folder:{root}") == load_dataset(f"folder:{root}").classes == ["cat", "dog"]
    assert class_names("fashion-mnist")[:2] == ["T-shirt", "Trouser"] and class_names("mnist-5k")[9] == "9"
    assert class_names("shapes") == list(shapes.CLASSES) and len(class_names("shapes")) == 12
    with pytest.raises(UserError, match="not a readable directory"):
        class_names(f"folder:{tmp_path / 'gone'}")
