"""`nfgen pipeline RUN --seeds …`: one whole tiny run per seed and a mean ± spread summary against each seed's own
baselines."""

from __future__ import annotations

import json
import statistics

import pytest
from typer.testing import CliRunner

from nfgen_tui.cli import app
from nfgen_tui.seeds import summarize
from test_pipeline import TINY

runner = CliRunner()


def test_summary_means_spreads_and_wins_against_each_seeds_marginal():
    evals = {s: {"mmd": m, "cov": c, "nna": n, "classifier_accuracy": a, "memorization_rate": 0.0,
                 "baselines": {"marginal": {"mmd": 0.28, "cov": 0.45, "nna": 0.80, "classifier_accuracy": 0.70,
                                            "memorization_rate": 0.0}}}
             for s, (m, c, n, a) in {0: (0.25, 0.50, 0.70, 0.90), 1: (0.27, 0.40, 0.74, 0.80),
                                     2: (0.29, 0.48, 0.66, 0.88)}.items()}
    out = summarize(evals)
    g = out["generated"]
    assert g["mmd"]["mean"] == pytest.approx(0.27) and g["mmd"]["std"] == pytest.approx(0.02)
    assert (g["cov"]["min"], g["cov"]["max"], g["cov"]["n"]) == (0.40, 0.50, 3)
    assert out["baselines"]["marginal"]["nna"]["std"] == 0.0
    assert out["beats_marginal"]["0"] == {"mmd": True, "cov": True, "nna": True, "classifier_accuracy": True}
    assert out["beats_marginal"]["1"]["cov"] is False and out["beats_marginal"]["2"]["mmd"] is False
    # a preset is as good as its worst seed: the highest MMD / 1-NNA, the lowest COV / accuracy
    assert (g["mmd"]["worst"], g["mmd"]["worst_seed"]) == (0.29, 2) and (g["cov"]["worst"], g["cov"]["worst_seed"]) == (0.40, 1)
    assert (g["nna"]["worst"], g["classifier_accuracy"]["worst_seed"]) == (0.74, 1)
    assert "beats_marginal_codes" not in out  # free fields: no code marginal
    evals[0]["baselines"]["marginal codes"] = {"mmd": 0.24, "cov": 0.6, "nna": 0.6, "classifier_accuracy": 0.95}
    for s in (1, 2):
        evals[s]["baselines"]["marginal codes"] = evals[s]["baselines"]["marginal"]
    codes = summarize(evals)["beats_marginal_codes"]
    assert codes["0"] == {"mmd": False, "cov": False, "nna": False, "classifier_accuracy": False}
    assert codes["1"] == summarize(evals)["beats_marginal"]["1"]


def test_pipeline_seeds_runs_each_seed_whole_and_writes_one_summary(workspace):
    args = ["--workspace", str(workspace.root), "pipeline", "many", "--seeds", "1,2"]
    for o in [*TINY, "data.limit=100", "fields.steps=15", "train.iters=10", "train.eval_every=5"]:
        args += ["--set", o]
    args.append("--json")
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["runs"] == {"1": "many-s1", "2": "many-s2"} and out["seeds"] == [1, 2]
    evals = {}
    for s in (1, 2):
        run = workspace.run(f"many-s{s}")
        assert run.config().seed == s and run.is_done("eval")
        evals[s] = json.loads((run.stage_dir("eval") / "metrics.json").read_text())
    assert evals[1]["nna"] != evals[2]["nna"] or evals[1]["mmd"] != evals[2]["mmd"]  # other seeds, other runs
    for m in ("mmd", "cov", "nna", "classifier_accuracy"):
        vals = [evals[1][m], evals[2][m]]
        assert out["generated"][m]["mean"] == pytest.approx(statistics.fmean(vals))
        assert out["generated"][m]["std"] == pytest.approx(statistics.stdev(vals))
        assert out["baselines"]["marginal"][m]["mean"] == pytest.approx(
            statistics.fmean(evals[s]["baselines"]["marginal"][m] for s in (1, 2)))
    stored = json.loads((workspace.root / "seeds" / "many.json").read_text())
    assert stored["generated"] == out["generated"]
    again = runner.invoke(app, args)  # finished runs: the same summary, nothing recomputed
    assert again.exit_code == 0 and json.loads(again.stdout)["generated"] == out["generated"]
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0 and "mean ± std over seeds 1, 2" in text.output and "worst seed" in text.output

    for bad in (["--seeds", "1,x"], ["--seeds", "1,1"], ["--seeds", "1", "--set", "seed=4"]):
        r = runner.invoke(app, ["--workspace", str(workspace.root), "pipeline", "other", *bad])
        assert r.exit_code == 2, (bad, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and "--seeds" in r.stderr
    assert not (workspace.root / "runs" / "other-s1").exists()
