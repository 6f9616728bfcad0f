"""The scoring CNN: learns digits from a short run, is cached per (dataset, seed), and scores intended classes."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from nfgen_tui.cli import app
from nfgen_tui.data import stratified_split
from nfgen_tui.modality.image2d.classifier import cache_dir, get_classifier, predict_proba, score, train_classifier


def test_short_training_run_reaches_90_percent(mnist5k):
    split = stratified_split(mnist5k.labels, 0.1, 0)
    train = np.flatnonzero(split == 0)[::2]  # 2,250 digits
    held = split == 1
    model = train_classifier(mnist5k.images[train], mnist5k.labels[train], 10, epochs=2, seed=0,
                             device=torch.device("cpu"))
    s = score(model, mnist5k.images[held], mnist5k.labels[held])
    assert s["classifier_accuracy"] >= 0.90
    assert 0.5 < s["classifier_confidence"] <= s["classifier_accuracy"] + 0.1
    # a wrong intended class is scored as wrong
    wrong = score(model, mnist5k.images[held], (mnist5k.labels[held] + 1) % 10)
    assert wrong["classifier_accuracy"] < 0.1
    # other sizes are resized to 28 px, probabilities sum to 1
    big = torch.nn.functional.interpolate(torch.tensor(mnist5k.images[:20])[:, None], size=56)[:, 0]
    p = predict_proba(model, big)
    assert p.shape == (20, 10) and torch.allclose(p.sum(1), torch.ones(20), atol=1e-5)
    assert (p.argmax(1).numpy() == mnist5k.labels[:20]).mean() >= 0.8


@pytest.fixture
def folder_dataset(tmp_path, mnist5k):
    """Two classes (digits 0 and 1) as PNG folders: small enough to train in a second."""
    root = tmp_path / "digits"
    for c in (0, 1):
        (root / f"c{c}").mkdir(parents=True)
        for i, k in enumerate(np.flatnonzero(mnist5k.labels == c)[:60]):
            Image.fromarray((mnist5k.images[k] * 255).astype(np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return root


def test_cli_trains_caches_and_forces(workspace, folder_dataset):
    runner = CliRunner()
    args = ["--workspace", str(workspace.root), "classifier", "train", "--dataset", f"folder:{folder_dataset}",
            "--epochs", "2", "--seed", "3", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["cached"] is False and first["n_classes"] == 2 and first["n_test"] == 12
    assert first["accuracy"] >= 0.9  # 0 vs 1 is easy
    folder = cache_dir(workspace, f"folder:{folder_dataset}", 3)
    assert (folder / "model.safetensors").exists() and (folder / "report.json").exists()
    assert "/" not in folder.name
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["cached"] is True and again["accuracy"] == first["accuracy"]
    forced = json.loads(runner.invoke(app, [*args[:-1], "--force", "--json"]).stdout)
    assert forced["cached"] is False and forced["accuracy"] == first["accuracy"]  # seeded: the same network again
    model, _ = get_classifier(workspace, f"folder:{folder_dataset}", epochs=2, seed=3)
    assert model.fc2.out_features == 2
    bad = runner.invoke(app, [*args[:6], "--epochs", "0"])
    assert bad.exit_code == 2 and "epochs" in bad.stderr
