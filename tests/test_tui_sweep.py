"""Pilot tests of the sweep panel on the Metrics screen: a hand-written eval/sweep.json (the format
nfgen_tui/sweep/stage.py writes) shown as a heat table, the metric switch, the ★ best cell, a cell opening Generate
with its setting, and a sweep job's progress read from the lock and the events log."""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.widgets import DataTable, Input, ProgressBar, Select
from textual.worker import WorkerState

from nfgen_tui import jobs
from nfgen_tui.sweep.grid import RULE, best_cell, cell_key
from nfgen_tui.tui.app import NfgenApp
from nfgen_tui.workspace import atomic_write_json

import tui_workspace

SIZE = (120, 40)
TS, KS = [0.6, 1.0], [1, 3, 0]


def scores(t: float, k: int) -> dict:
    """Distinct numbers per cell; t1-k3 has the lowest 1-NNA at full accuracy, t0.6-k0 the lowest MMD."""
    nna = {(0.6, 1): 0.95, (0.6, 3): 0.81, (0.6, 0): 0.88, (1.0, 1): 0.95, (1.0, 3): 0.72, (1.0, 0): 0.77}[(t, k)]
    mmd = {(0.6, 1): 0.31, (0.6, 3): 0.24, (0.6, 0): 0.19, (1.0, 1): 0.31, (1.0, 3): 0.22, (1.0, 0): 0.27}[(t, k)]
    acc = {(1.0, 0): 0.80}.get((t, k), 0.96)
    return {"mmd": mmd, "cov": round(0.5 - mmd, 3), "nna": nna, "n_generated": 60, "n_reference": 60,
            "classifier_accuracy": acc, "classifier_confidence": 0.9, "memorization_rate": round(k * 0.01, 3),
            "memorization_quantiles": [0.1, 0.2, 0.3]}


def write_sweep(run) -> dict:
    """eval/sweep.json as run_sweep saves it: record, cells (key → setting + scores), best, complete."""
    settings = [{"temperature": t, "top_k": k, "top_p": 1.0, "key": cell_key(t, k, 1.0)} for t in TS for k in KS]
    cells = {s["key"]: {**{x: s[x] for x in ("temperature", "top_k", "top_p", "key")}, **scores(s["temperature"],
                                                                                              s["top_k"]),
                        "sample_seconds": 1.0, "samples_per_s": 60.0, "seconds": 1.5} for s in settings}
    chosen = best_cell([cells[s["key"]] for s in settings])
    sweep = {"grid": {"temperature": TS, "top_k": KS, "top_p": [1.0]}, "settings": settings, "rule": RULE,
             "n_per_class": 6, "seed": 0, "n_generated": 60, "n_reference": 60, "n_per_cell": 60, "ssim": "gaussian",
             "memorization_threshold": 0.05, "step": 400, "identity": {"step": 400}, "device": "cpu",
             "n_train_images": 4500, "cells": cells, "complete": True,
             "best": {k: chosen[k] for k in ("key", "temperature", "top_k", "top_p", "nna", "mmd", "cov",
                                             "classifier_accuracy", "memorization_rate")},
             "seconds": 9.0}
    atomic_write_json(run.stage_dir("eval") / "sweep.json", sweep)
    return sweep


@pytest.fixture
def sweep_ws(tmp_path, monkeypatch, mnist5k):
    monkeypatch.chdir(tmp_path)
    ws = tui_workspace.build(tmp_path / "ws", mnist5k)
    write_sweep(ws.run("alpha"))
    return ws


async def settle(pilot, condition=lambda: True):
    for _ in range(400):
        await pilot.pause(0.05)
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        if condition() and not busy:
            break
    await pilot.pause()


def table_texts(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_alpha(pilot):
    screen = pilot.app.screen
    await settle(pilot)
    screen.query_one("#met-a", Select).value = "alpha"
    await settle(pilot, lambda: screen.query_one("#sweep-table", DataTable).row_count > 0)
    return screen


async def test_heat_table_shows_every_cell_marks_the_best_and_switches_metric(sweep_ws):
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alpha(pilot)
        panel = screen.query_one("#met-sweep")
        assert panel.display
        table = screen.query_one("#sweep-table", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["T \\ top-k", "1", "3", "off"]
        # 1-NNA: the best cell (lowest 1-NNA among accurate cells: t1-k3) carries the star, and nothing else
        assert table_texts(table) == [["0.6", " 0.950", " 0.810", " 0.880"], ["1", " 0.950", "★0.720", " 0.770"]]
        assert table.cursor_coordinate == (1, 2)  # the cursor starts on the best cell
        best, worst = (Style.parse(str(table.get_cell_at(xy).style)) for xy in ((1, 2), (0, 1)))
        assert best.underline and not worst.underline
        # the colours run from worst (red) to best (green)
        assert best.bgcolor.triplet.green > worst.bgcolor.triplet.green
        assert best.bgcolor.triplet.red < worst.bgcolor.triplet.red

        await pilot.press("v")  # next metric: MMD
        await settle(pilot)
        assert screen.query_one("#sweep-metric", Select).value == "mmd"
        assert table_texts(table) == [["0.6", " 0.310", " 0.240", " 0.190"], ["1", " 0.310", "★0.220", " 0.270"]]
        screen.query_one("#sweep-metric", Select).value = "memorization_rate"
        await settle(pilot)
        assert table_texts(table)[0][1:] == [" 0.010", " 0.030", " 0.000"]
        assert "memorization rate: lower is better" in str(screen.query_one("#sweep-status").render())


async def test_picking_a_cell_opens_generate_with_its_setting(sweep_ws):
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alpha(pilot)
        table = screen.query_one("#sweep-table", DataTable)
        table.focus()
        await pilot.press("up", "right")  # from the best cell (T 1, top-k 3) to T 0.6, top-k off
        await pilot.press("enter")
        await settle(pilot, lambda: type(app.screen).__name__ == "GenerateScreen")
        gen = app.screen
        assert type(gen).__name__ == "GenerateScreen"
        await settle(pilot)
        assert gen.query_one("#gen-run", Select).value == "alpha"
        got = {f: gen.query_one(f"#gen-{f}", Input).value for f in ("temperature", "top_k", "top_p", "n")}
        # the cell's sampling setting; the count keeps the run's default
        assert got == {"temperature": "0.6", "top_k": "0", "top_p": "1", "n": "30"}


async def test_f_shows_the_fidelity_variety_front_with_the_evals_baselines(sweep_ws):
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alpha(pilot)
        front = screen.query_one("#sweep-front")
        assert not front.display
        await pilot.press("f")
        await settle(pilot)
        assert front.display and not screen.query_one("#sweep-table", DataTable).display
        text = str(front.render())
        # t1-k3 (accuracy 0.96, 1-NNA 0.72) beats every other cell on both: the front is it alone, letter e in upper
        # case; the workspace's eval gives the default sample (its baselines carry no classifier accuracy)
        lines = text.splitlines()
        assert [ln.split()[0] for ln in lines if ln.endswith(" front")] == ["E"]
        assert any(ln.startswith(" E T1 k3 ") for ln in lines) and any(" c T0.6 " in ln for ln in lines)
        assert any(ln.startswith(" @ default sample") and "acc 0.900  1-NNA 0.780" in ln for ln in lines)
        assert sum("E" in ln[1:] for ln in lines[1:15]) == 1  # the one front point drawn in the scatter
        await pilot.press("f")
        await settle(pilot)
        assert not front.display and screen.query_one("#sweep-table", DataTable).display


async def test_a_running_sweep_shows_progress_and_is_not_started_twice(sweep_ws):
    run = sweep_ws.run("alpha")
    lock = run.lock("sweep").acquire()  # as the sweep job's process would hold it
    try:
        run.log_event("sweep", step=2, total=6, cell="t0.6-k3-p1", nna=0.81)
        app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=0.2, start="metrics")
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_alpha(pilot)
            bar = screen.query_one("#sweep-progress", ProgressBar)
            await settle(pilot, lambda: bar.total == 6)
            assert (bar.total, bar.progress) == (6, 2) and screen.query_one("#sweep-run").display
            run.log_event("sweep", step=3, total=6, cell="t0.6-k0-p1", nna=0.88)
            await settle(pilot, lambda: bar.progress == 3)
            assert str(screen.query_one("#sweep-job").render()) == "3/6 done · t0.6-k0-p1"
            await pilot.press("s")
            await settle(pilot)
            assert jobs.read_job(run) is None  # refused: no second sweep job
    finally:
        lock.release()
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:  # lock released: no progress bar
        screen = await open_alpha(pilot)
        assert not screen.query_one("#sweep-run").display
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Run sweep", "Sweep metric", "Open sweep cell in Generate"} <= titles


async def test_the_sweep_key_starts_the_sweep_command_as_a_job(sweep_ws):
    run = sweep_ws.run("alpha")
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=0.2, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        await open_alpha(pilot)
        await pilot.press("s")
        job = jobs.read_job(run)
        assert job["args"] == ["sweep", "alpha", "--n-per-class", "20"]  # the GPT's own default grid
        # the fixture's run has no checkpoint: the job fails with the CLI's one-line message, the app stays up
        for _ in range(300):
            if jobs.job_status(run)["state"] != "running":
                break
            await pilot.pause(0.1)
        assert jobs.job_status(run)["state"] == "failed"
        assert "no trained transformer" in jobs.read_log(run)


def write_diffusion_sweep(run) -> dict:
    """A diffusion run's eval/sweep.json (DDIM steps × cfg, keys s10-e0-g1), on a run switched to model.kind diffusion."""
    cfg = run.config()
    cfg.model.kind = "diffusion"
    run.write_config(cfg)
    settings = [{"steps": n, "eta": 0.0, "cfg": g, "key": f"s{n}-e0-g{g:g}"} for n in (10, 50) for g in (1.0, 2.0)]
    nna = {"s10-e0-g1": 0.9, "s10-e0-g2": 0.8, "s50-e0-g1": 0.85, "s50-e0-g2": 0.7}
    cells = {s["key"]: {**s, **scores(1.0, 3), "nna": nna[s["key"]]} for s in settings}
    chosen = best_cell(list(cells.values()))
    sweep = {"grid": {"steps": [10, 50], "eta": [0.0], "cfg": [1.0, 2.0]}, "settings": settings, "rule": RULE,
             "n_per_class": 6, "seed": 0, "n_generated": 60, "n_reference": 60, "n_per_cell": 60, "step": 400,
             "identity": {"step": 400, "kind": "diffusion"}, "cells": cells, "complete": True,
             "best": {k: chosen[k] for k in ("key", "steps", "eta", "cfg", "nna", "mmd", "cov", "classifier_accuracy",
                                             "memorization_rate")}}
    atomic_write_json(run.stage_dir("eval") / "sweep.json", sweep)
    return sweep


async def test_a_diffusion_sweep_shows_steps_by_cfg_and_opens_generate_with_its_setting(sweep_ws):
    run = sweep_ws.run("alpha")
    write_diffusion_sweep(run)
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alpha(pilot)
        table = screen.query_one("#sweep-table", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["steps \\ cfg", "g1", "g2"]
        assert table_texts(table) == [["10", " 0.900", " 0.800"], ["50", " 0.850", "★0.700"]]
        assert "50 DDIM steps, eta 0, cfg 2" in str(screen.query_one("#sweep-status").render())
        assert "DDIM steps rows" in str(screen.query_one("#sweep-title").render())
        table.focus()
        await pilot.press("left", "enter")  # from the best cell to 50 steps, cfg 1
        await settle(pilot, lambda: type(app.screen).__name__ == "GenerateScreen")
        gen = app.screen
        await settle(pilot)
        assert [gen.query_one(f"#gen-{k}", Input).value for k in ("steps", "eta", "cfg")] == ["50", "0", "1"]
        assert gen.query_one("#gen-steps", Input).display and not gen.query_one("#gen-temperature", Input).display
        assert "setting from the sweep: DDIM steps 50, DDIM eta 0, guidance cfg 1" in \
            str(gen.query_one("#gen-status").render())


async def test_the_sweep_key_on_a_diffusion_run_starts_its_own_default_grid(sweep_ws):
    run = sweep_ws.run("alpha")
    write_diffusion_sweep(run)
    app = NfgenApp(sweep_ws, image_mode="halfcell", poll_s=0.2, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        await open_alpha(pilot)
        await pilot.press("s")
        assert jobs.read_job(run)["args"] == ["sweep", "alpha", "--n-per-class", "20"]  # no GPT axes
        for _ in range(300):
            if jobs.job_status(run)["state"] != "running":
                break
            await pilot.pause(0.1)
        assert "not a sweep axis" not in jobs.read_log(run)
