"""Snapshot tests (pytest-textual-snapshot) of every screen on a fixed workspace, 120×40, half-block images.

Content is deterministic: fixed events and timestamps, real mnist-5k digits, no clock in the header, the
workspace shown relative to the current folder. Update after an intended change with `--snapshot-update`.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from textual.worker import WorkerState

from nfgen_tui.tui.app import NfgenApp

import tui_workspace

SIZE = (120, 40)


@pytest.fixture
def fixed_ws(tmp_path, monkeypatch, mnist5k):
    monkeypatch.chdir(tmp_path)
    return tui_workspace.build(tmp_path / "ws", mnist5k)


async def settled(pilot, condition=lambda app: True):
    """Until `condition` holds and no worker is pending or running (workers start workers: poll)."""
    app = pilot.app
    for _ in range(600):
        await pilot.pause(0.05)
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
        # a DataTable sizes its columns on idle: until then it paints with stale widths
        busy = busy or any(t._require_update_dimensions for t in app.screen.query(DataTable))
        if condition(app) and not busy:
            break
    await pilot.pause()


def gallery_ready(selector):
    return lambda app: app.screen.query(selector) and app.screen.query_one(selector).query_one(".grid-image").image


def runs_ready(app, n_runs: int = 2) -> bool:
    """The table holds every run and the selected run's curve has been read (not merely no worker right now)."""
    screen = app.screen
    if not screen.query("#runs-table"):
        return False
    table = screen.query_one("#runs-table")
    return table.row_count == n_runs and bool(getattr(screen, "curves", None) and screen.curves.latest)


def test_runs_screen(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600)

    async def before(pilot):
        await settled(pilot, runs_ready)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_datasets_screen(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="datasets")

    async def before(pilot):
        await settled(pilot, gallery_ready("#ds-gallery"))

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_generate_screen(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="generate")

    async def before(pilot):
        await settled(pilot, gallery_ready("#gen-grid"))

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_metrics_screen_comparing_two_runs(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="metrics")

    async def before(pilot):
        await settled(pilot)
        pilot.app.screen.query_one("#met-b").value = "alpha"
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


# 80×24, a default SSH terminal: every screen stays usable (narrower panels, a shorter job log, the form hidden)
SMALL = (80, 24)


def test_runs_screen_80x24(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600)

    async def before(pilot):
        await settled(pilot, runs_ready)

    assert snap_compare(app, terminal_size=SMALL, run_before=before)


def test_datasets_screen_80x24(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="datasets")

    async def before(pilot):
        await settled(pilot, gallery_ready("#ds-gallery"))

    assert snap_compare(app, terminal_size=SMALL, run_before=before)


def test_generate_screen_80x24_form_hidden(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="generate")

    async def before(pilot):
        await settled(pilot, gallery_ready("#gen-grid"))
        await pilot.press("ctrl+f")
        await settled(pilot, lambda app: "showing" not in str(app.screen.query_one(".grid-caption").render()))

    assert snap_compare(app, terminal_size=SMALL, run_before=before)


def test_metrics_screen_80x24(fixed_ws, snap_compare):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start="metrics")

    async def before(pilot):
        await settled(pilot)
        pilot.app.screen.query_one("#met-b").value = "alpha"
        await settled(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=before)


@pytest.mark.parametrize("start", ["runs", "datasets", "generate", "metrics"])
async def test_every_footer_key_fits_80_columns(fixed_ws, start):
    """At 80 columns no shown key is cut or hidden under the right-docked "^p palette"."""
    from textual.widgets._footer import FooterKey

    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=600, start=start)
    async with app.run_test(size=SMALL) as pilot:
        await settled(pilot)
        keys = sorted((k.region.x, k.region.right, k.key_display, k.description) for k in app.screen.query(FooterKey))
        assert len(keys) >= 6, keys
        assert all(a[1] <= b[0] for a, b in zip(keys, keys[1:])) and keys[-1][1] <= SMALL[0], keys


# a denoiser run: its own sample settings on Generate (DDIM steps, eta; no temperature / top-k / top-p) and its own
# summary on Runs; a 3D run: shaded views and the marching-cubes grid size on Generate
@pytest.fixture
def denoiser_ws(tmp_path, monkeypatch, mnist5k):
    monkeypatch.chdir(tmp_path)
    return tui_workspace.build_denoiser(tmp_path / "ws", mnist5k)


@pytest.fixture
def solids_ws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tui_workspace.build_3d(tmp_path / "ws")


GENERATE_CASES = [("denoiser_ws", SIZE), ("denoiser_ws", SMALL), ("solids_ws", SIZE), ("solids_ws", SMALL)]


@pytest.mark.parametrize("ws, size", GENERATE_CASES,
                         ids=["denoiser-120x40", "denoiser-80x24", "3d-120x40", "3d-80x24"])
def test_generate_screen_of_a_denoiser_run_and_a_3d_run(ws, size, request, snap_compare):
    app = NfgenApp(request.getfixturevalue(ws), image_mode="halfcell", poll_s=600, start="generate")

    async def before(pilot):
        await settled(pilot, gallery_ready("#gen-grid"))

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x40", "80x24"])
def test_runs_screen_of_a_denoiser_run(denoiser_ws, snap_compare, size):
    app = NfgenApp(denoiser_ws, image_mode="halfcell", poll_s=600)

    async def before(pilot):
        await settled(pilot, lambda app: runs_ready(app, 1))

    assert snap_compare(app, terminal_size=size, run_before=before)
