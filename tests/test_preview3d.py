"""Terminal previews of 3D datasets: splatted surface points look like the shape, `nfgen data show shapes` draws."""

import numpy as np
from typer.testing import CliRunner

from nfgen_tui.cli import app
from nfgen_tui.geometry.splat import splat_views


def test_a_sphere_splats_to_a_disc_brightest_in_the_middle():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(4000, 3))
    sphere = 0.6 * d / np.linalg.norm(d, axis=1, keepdims=True)
    img = splat_views(sphere, size=32, azimuths=(0, 90))
    assert img.shape == (2, 32, 32) and img.dtype == np.uint8
    yy, xx = np.mgrid[:32, :32]
    r = np.hypot(xx + 0.5 - 16, yy + 0.5 - 16) / 16 * 1.15  # pixel radius in scene units (the camera's framing)
    assert (img[0][r < 0.5] > 0).all() and (img[0][r > 0.7] == 0).all()  # covered inside the rim, empty outside
    assert img[0][15:17, 15:17].mean() > img[0][r > 0.55].mean() + 40  # the near middle is brighter than the rim
    assert splat_views(np.zeros((0, 3)), size=8).max() == 0


def test_data_show_draws_shapes(workspace):
    r = CliRunner().invoke(app, ["--workspace", str(workspace.root), "data", "show", "shapes", "--n", "3"])
    assert r.exit_code == 0, r.output
    assert "12 classes" in r.stdout and "labels:" in r.stdout and "▀" in r.stdout
