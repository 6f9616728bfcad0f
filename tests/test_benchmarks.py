"""Every benchmark script runs once at its smallest size, so none can rot silently (an import of a removed module,
a renamed function). Only that each ends with exit 0 and prints its result line is checked; timing belongs to
`make bench`, never to a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"

# script -> (smallest arguments, a word its result line prints)
SMALLEST = {
    "fit_fields.py": (["--fields", "4", "--ref-fields", "1", "--ref-epochs", "1", "--steps", "3", "--chunk", "2"],
                      "batched fitter"),
    "fit_fields3d.py": (["--per-class", "1", "--ref-shapes", "1", "--steps", "3", "--chunk", "4"], "speed-up"),
    "ssim_pairs.py": (["--n", "8", "--subset", "2", "--rounds", "1", "--device", "cpu"], "max |SSIM diff|"),
    "train_throughput.py": (["--steps", "1", "--sizes", "quick", "--device", "cpu", "--block", "16", "--batch", "2",
                             "--matmul", "128"], "tokens/s"),
    "train_probe.py": (["--device", "cpu", "--matmul", "128"], "ms/step"),
    "sample_speed.py": (["--n", "2", "--weights", "12", "--device", "cpu"], "identical tokens: True"),
    "codebook_lloyd.py": (["--fields", "20"], "speed-up"),
    "codebook_groups.py": (["--rows", "2000", "--codes", "64", "--iters", "2", "--seed-sample", "400"],
                           "neighbour search"),
    "rate_distortion.py": (["--tiny"], "tokens per field"),
    "diffusion_split.py": (["--synthetic", "60", "--steps", "2", "--size", "1,2,16", "--batch", "8",
                            "--gpt-reference"], "val x0-MSE"),
    "chamfer_pairs.py": (["--n", "4", "--points", "64", "--subset", "2", "--rounds", "1", "--device", "cpu"],
                         "max |Chamfer diff|"),
    "shapes_data.py": (["--per-class", "1", "--faces", "80", "--points", "200"], "inside test"),
}


def test_every_benchmark_script_is_covered():
    assert {p.name for p in BENCH.glob("*.py")} == set(SMALLEST)


@pytest.mark.parametrize("script", sorted(SMALLEST))
def test_benchmark_runs_at_its_smallest_size(script):
    args, expect = SMALLEST[script]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout, out.stdout[-2000:]
