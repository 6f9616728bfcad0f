"""Jobs started from the app are detached `nfgen` processes: they outlive the app, a new app re-attaches to them
(job state, live curve from events.jsonl), and cancelling stops them through SIGTERM. Real tiny fit jobs."""

from __future__ import annotations

import os
import time

import pytest
from textual.widgets import DataTable
from textual.worker import WorkerState

from nfgen_tui import config as cfgmod
from nfgen_tui import jobs
from nfgen_tui.tui.app import NfgenApp
from nfgen_tui.tui.widgets.loss_plot import LossPlot

SIZE = (120, 40)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # our own exited child stays a zombie until reaped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


async def until(pilot, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.1)
    return predicate()


async def settle(app, pilot):
    for _ in range(200):
        if not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers):
            break
        await pilot.pause(0.05)


@pytest.fixture
def slow_fit_run(workspace, monkeypatch, tmp_path):
    """A fit that takes far longer than the test: 1,000 fields in chunks of 10, logging every few steps."""
    monkeypatch.chdir(tmp_path)
    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["data.limit=1000", "fields.steps=300", "fields.chunk_size=10", "fields.init=random",
                            "fields.subspace=0", "diffusion.target=weights",
                            "device=cpu"])
    return workspace.create_run("tiny", c)


async def test_job_outlives_the_app_and_a_new_app_reattaches_and_cancels(workspace, slow_fit_run):
    run = slow_fit_run
    app = NfgenApp(workspace, image_mode="halfcell", poll_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.selected == "tiny"
        await pilot.press("f")
        assert await until(pilot, lambda: jobs.read_job(run) is not None, 5)
        pid = jobs.read_job(run)["pid"]
        assert await until(pilot, lambda: str(app.screen.query_one("#runs-table", DataTable)
                                              .get_row("tiny")[-1]) == "fit running", 10)
    # the app is gone; the job is not
    time.sleep(0.5)
    assert alive(pid) and jobs.job_status(run)["state"] == "running"

    app2 = NfgenApp(workspace, image_mode="halfcell", poll_s=0.2)
    try:
        async with app2.run_test(size=SIZE) as pilot:
            await settle(app2, pilot)
            table = app2.screen.query_one("#runs-table", DataTable)
            assert await until(pilot, lambda: str(table.get_row("tiny")[-1]) == "fit running", 10)
            assert await until(pilot, lambda: str(table.get_row("tiny")[1]) == "▶", 30)  # fit holds its lock
            plot = app2.screen.query_one("#loss", LossPlot)
            # the curve arrives and grows while we watch
            assert await until(pilot, lambda: plot.curve is not None and len(plot.curve.steps) >= 1, 60)
            first = len(plot.curve.steps)
            assert await until(pilot, lambda: len(plot.curve.steps) > first, 60)
            assert plot.curve.stage == "fit" and plot.curve.steps == sorted(plot.curve.steps)
            await pilot.press("x")
            assert await until(pilot, lambda: jobs.job_status(run)["state"] == "cancelled", 30)
            assert await until(pilot, lambda: str(table.get_row("tiny")[-1]) == "fit cancelled", 5)
            assert str(table.get_row("tiny")[1]) == "‖"
    finally:
        jobs.cancel_job(run, timeout=10)
    assert not alive(pid)
    assert "cancelled" in jobs.read_log(run)
    # SIGTERM reached the stage as KeyboardInterrupt: run.stage() logged it (a plain kill would leave no trace)
    events, _ = run.events("fit")
    assert [e.get("event") for e in events if e.get("event") in ("start", "interrupted", "done")] == [
        "start", "interrupted"]


def test_a_job_that_ends_at_once_keeps_its_final_state(workspace):
    """The starter writes job.json after the supervisor may already have finished: its record must win."""
    run = workspace.create_run("quick", cfgmod.preset("quick"))
    job = jobs.start_job(run, ["status", "quick"])
    deadline = time.time() + 60
    while jobs.job_status(run)["state"] == "running" and time.time() < deadline:
        time.sleep(0.1)
    final = jobs.job_status(run)
    assert final["state"] == "done" and final["returncode"] == 0 and final["id"] == job["id"]
    log = jobs.read_log(run)
    assert f"=== job {job['id']}: nfgen status quick" in log and "quick" in log.split("\n", 1)[1]


def test_a_failing_job_reads_failed_and_a_dead_one_interrupted(workspace):
    run = workspace.create_run("r", cfgmod.preset("quick"))
    jobs.start_job(run, ["init", "other", "--preset", "nope"])  # a user error: exit 2
    deadline = time.time() + 60
    while jobs.job_status(run)["state"] == "running" and time.time() < deadline:
        time.sleep(0.1)
    assert jobs.job_status(run)["state"] == "failed" and jobs.job_status(run)["returncode"] == 2
    assert "unknown preset 'nope'" in jobs.read_log(run)
    # a job.json left "running" by a supervisor that was killed -9
    job = jobs.read_job(run)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    job.update(state="running", pid=dead, heartbeat=time.time())
    jobs.atomic_write_json(jobs.job_path(run), job)
    assert jobs.job_status(run)["state"] == "interrupted" and not jobs.is_running(run)
    assert jobs.cancel_job(run) is False
