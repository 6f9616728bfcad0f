"""`nfgen metrics GEN.npy REF.npy`: the numbers of the library, equal-size draws, and clean refusals of bad arrays."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nfgen_tui.cli import app
from nfgen_tui.metrics.generative import compare_files, distances, set_metrics

runner = CliRunner()


def metrics_cli(workspace, *args):
    return runner.invoke(app, ["--workspace", str(workspace.root), "metrics", *map(str, args)])


def test_metrics_json_equals_library_and_draws_equal_sizes(workspace, tmp_path, mnist5k):
    gen, ref = tmp_path / "gen.npy", tmp_path / "ref.npy"
    np.save(gen, mnist5k.images[:30])
    np.save(ref, mnist5k.images[1000:1050].astype(np.float64))
    r = metrics_cli(workspace, gen, ref, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["n_generated"] == out["n_reference"] == 30  # 50 reference images subsampled without replacement
    assert out["n_generated_file"] == 30 and out["n_reference_file"] == 50 and out["ssim"] == "gaussian"
    again = compare_files(gen, ref, "gaussian")
    for k in ("mmd", "cov", "nna"):
        assert out[k] == pytest.approx(again[k], abs=1e-9)
    # equal sizes are used as they are: the result is the library's on the full arrays
    np.save(ref, mnist5k.images[1000:1030])
    full = set_metrics(distances(mnist5k.images[:30], mnist5k.images[1000:1030]))
    out = json.loads(metrics_cli(workspace, gen, ref, "--json", "--ssim", "gaussian").stdout)
    assert out["mmd"] == pytest.approx(full["mmd"], abs=1e-6) and out["nna"] == pytest.approx(full["nna"])
    uniform = json.loads(metrics_cli(workspace, gen, ref, "--json", "--ssim", "uniform").stdout)
    assert uniform["ssim"] == "uniform" and uniform["mmd"] != pytest.approx(out["mmd"], abs=1e-4)
    human = metrics_cli(workspace, gen, ref)
    assert human.exit_code == 0 and "mmd" in human.stdout


def test_metrics_rejects_bad_arrays_with_one_line(workspace, tmp_path, mnist5k):
    good = tmp_path / "good.npy"
    np.save(good, mnist5k.images[:10])
    cases = {
        "missing.npy": None,
        "flat.npy": np.zeros((10, 784), np.float32),
        "ints.npy": (mnist5k.images[:10] * 255).astype(np.uint8),
        "nan.npy": np.full((10, 28, 28), np.nan, np.float32),
        "range.npy": mnist5k.images[:10] * 255,
        "small.npy": np.zeros((10, 8, 8), np.float32),
        "other_size.npy": np.zeros((10, 32, 32), np.float32),
        "one.npy": mnist5k.images[:1],
        "text.npy": "not an array",
    }
    expected = {"missing.npy": "does not exist", "flat.npy": "N×H×W", "ints.npy": "divide 8-bit images by 255",
                "nan.npy": "NaN", "range.npy": "expected [0, 1]", "small.npy": "sizes differ",
                "other_size.npy": "sizes differ", "one.npy": "at least 2", "text.npy": "not a readable .npy"}
    for name, arr in cases.items():
        path = tmp_path / name
        if isinstance(arr, np.ndarray):
            np.save(path, arr)
        elif arr is not None:
            path.write_text(arr)
        r = metrics_cli(workspace, path, good)
        assert r.exit_code == 2, (name, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and expected[name] in lines[0], (name, r.stderr)
    tiny = tmp_path / "tiny.npy"
    np.save(tiny, np.zeros((4, 9, 9), np.float32))
    r = metrics_cli(workspace, tiny, tiny)
    assert r.exit_code == 2 and "smaller than the 11×11 SSIM window" in r.stderr
    r = metrics_cli(workspace, good, good, "--ssim", "box")
    assert r.exit_code == 2 and "unknown SSIM mode" in r.stderr
