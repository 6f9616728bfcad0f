"""Concurrent jobs split the cores: each takes cores // running jobs torch threads, and all of them alone."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from nfgen_tui import config as cfgmod
from nfgen_tui import cpu_share, jobs
from nfgen_tui.cpu_share import CpuShare
from nfgen_tui.progress import rich_progress


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_each_running_job_takes_its_share_and_all_cores_alone(monkeypatch, restore_threads):
    monkeypatch.setattr(cpu_share, "RECHECK_S", 0.0)
    running = [1]
    share = CpuShare(lambda: running[0], cores=4)
    torch.set_num_threads(4)
    share.update()
    assert torch.get_num_threads() == 4
    running[0] = 2
    share.update()
    assert torch.get_num_threads() == 2
    running[0] = 3
    share.update()
    assert torch.get_num_threads() == 1
    running[0] = 9  # never below one thread
    share.update()
    assert torch.get_num_threads() == 1
    running[0] = 1
    share.update()
    assert torch.get_num_threads() == 4


def test_counting_waits_between_checks(restore_threads):
    calls = []
    share = CpuShare(lambda: calls.append(1) or 1, cores=2)
    for _ in range(50):
        share.update()
    assert len(calls) == 1  # RECHECK_S (2 s) has not passed: one count for 50 reports


def test_progress_reports_reach_the_share(monkeypatch, restore_threads):
    monkeypatch.setattr(cpu_share, "RECHECK_S", 0.0)
    torch.set_num_threads(2)
    share = CpuShare(lambda: 2, cores=2)
    monkeypatch.setattr("nfgen_tui.progress._listeners", [share.update])
    with rich_progress("fit") as progress:
        progress(1, 10, loss=0.5)
    assert torch.get_num_threads() == 1


def test_running_jobs_counts_live_jobs_of_every_run(workspace):
    for name in ("a", "b", "c"):
        workspace.create_run(name, cfgmod.preset("quick"))
    now = time.time()
    live = {"id": "x", "pid": os.getpid(), "stage": "fit", "state": "running", "heartbeat": now, "started": now}
    (workspace.run("a").dir / "job.json").write_text(json.dumps(live))
    (workspace.run("b").dir / "job.json").write_text(json.dumps(dict(live, state="done")))
    (workspace.run("c").dir / "job.json").write_text(json.dumps(dict(live, heartbeat=now - 3600)))  # silent
    assert jobs.running_jobs(workspace) == 1
    (workspace.run("b").dir / "job.json").write_text(json.dumps(live))
    assert jobs.running_jobs(workspace) == 2
