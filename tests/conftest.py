"""Shared fixtures: an empty workspace per test, and the offline MNIST sample loaded once per session."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from nfgen_tui.workspace import Workspace

    root = tmp_path / "ws"
    monkeypatch.setenv("NFGEN_WORKSPACE", str(root))
    return Workspace(root)


@pytest.fixture(scope="session")
def mnist5k():
    from nfgen_tui.data import load_dataset

    return load_dataset("mnist-5k")
