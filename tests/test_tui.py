"""Pilot tests of the app: navigation, palette entries, the new-run form, the live loss panel, the generate and
metrics screens — against a fixed workspace written in the documented file formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
from textual.widgets import DataTable, Input, Log, Select
from textual.worker import WorkerState

from nfgen_tui import config as cfgmod
from nfgen_tui.tui.app import NfgenApp
from nfgen_tui.tui.widgets.digit_grid import DigitGrid
from nfgen_tui.tui.widgets.loss_plot import LossPlot

import tui_workspace
from tiny_runs import trained_run

SIZE = (120, 40)


@pytest.fixture
def fixed_ws(tmp_path, monkeypatch, mnist5k):
    monkeypatch.chdir(tmp_path)
    return tui_workspace.build(tmp_path / "ws", mnist5k)


async def settle(app, pilot, t: float = 0.1):
    """Let workers (file reads, dataset loads) finish; a worker may still be pending, so poll their states."""
    await pilot.pause(t)
    for _ in range(600):
        if not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers):
            break
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_for(pilot, predicate, timeout: float = 20.0) -> bool:
    """Workers start other workers: poll the condition instead of guessing a delay."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def test_keys_switch_screens_and_palette_lists_every_action(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        seen = []
        for key in "dgmr":
            await pilot.press(key)
            await pilot.pause()
            seen.append(type(app.screen).__name__)
        assert seen == ["DatasetsScreen", "GenerateScreen", "MetricsScreen", "RunsScreen"]
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Datasets", "Runs", "Generate", "Metrics", "New run", "Start pipeline", "Start fit", "Start train",
                "Cancel job", "Generate digits", "Compare runs", "Prepare dataset"} <= titles
        assert app.sub_title == "ws"


async def test_palette_entry_runs_the_screen_action(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await settle(app, pilot)
        cmd = next(c for c in app.get_system_commands(app.screen) if c.title == "New run")
        cmd.callback()
        await settle(app, pilot)
        assert type(app.screen).__name__ == "NewRunScreen"


async def test_datasets_screen_lists_counts_and_draws_a_gallery(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="datasets")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#ds-table", DataTable)
        assert [table.get_row_at(i)[:3] for i in range(table.row_count)] == [
            ["mnist-5k", "yes", "5,000"], ["mnist", "no", "–"], ["fashion-mnist", "no", "–"],
            ["shapes", "yes", "2,400"]]
        classes = app.screen.query_one("#ds-classes", DataTable)
        assert [classes.get_row_at(i) for i in range(10)] == [[str(d), "500"] for d in range(10)]
        grid = app.screen.query_one("#ds-gallery", DigitGrid)
        assert await wait_for(pilot, lambda: grid.query_one(".grid-image").image is not None)
        image = grid.query_one(".grid-image").image
        assert image is not None and image.width > 28 and image.height > 28
        # moving to an unavailable dataset says how to get it instead of a picture
        await pilot.press("down")
        await settle(app, pilot)
        assert grid.query_one(".grid-image").image is None
        assert "prepare" in str(grid.query_one(".grid-caption").render())


async def test_datasets_screen_lists_shapes_and_draws_them_shaded(fixed_ws):
    from nfgen_tui.data import shapes

    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="datasets")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#ds-table", DataTable)
        assert table.get_row_at(3) == ["shapes", "yes", "2,400"]
        await pilot.press("down", "down", "down")
        await settle(app, pilot)
        classes = app.screen.query_one("#ds-classes", DataTable)
        assert [classes.get_row_at(i) for i in range(classes.row_count)] == [[c, "200"] for c in shapes.CLASSES]
        grid = app.screen.query_one("#ds-gallery", DigitGrid)
        caption = lambda: " ".join(str(grid.query_one(".grid-caption").render()).split())  # noqa: E731
        assert await wait_for(pilot, lambda: "random shapes" in caption(), 60)
        # what `nfgen data show shapes` draws: one shaded view per shape, labelled by class name
        image = np.asarray(grid.query_one(".grid-image").image.convert("L"), dtype=np.float32) / 255.0
        shown = int(caption().split("random shapes")[0].split()[-1])
        assert shown >= 12 and set(caption().split(" · ")[1].split()) <= set(shapes.CLASSES)
        assert image.shape[1] >= 2 * 28 and image.max() > 0.6 and (image < 0.15).mean() > 0.3  # lit shapes on dark
        assert (fixed_ws.datasets_dir / "shapes3d").is_dir()  # made once, cached for the runs
        await pilot.press("p")  # nothing to download for a 3D set: it says so
        await pilot.pause()
        assert "needs no download" in " ".join(str(n.message) for n in app._notifications)


async def test_folder_datasets_of_runs_and_added_ones_are_listed_with_skipped_files(fixed_ws, tmp_path):
    from test_data import write_folder

    used = write_folder(tmp_path / "used")  # 3 + 3 images, a truncated PNG and a stray text file
    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, [f"data.dataset=folder:{used}"])
    fixed_ws.create_run("mine", c)
    added = write_folder(tmp_path / "added", per_class=2, seed=1)
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="datasets")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#ds-table", DataTable)
        assert [table.get_row_at(i)[1:3] for i in range(table.row_count)] == [
            ["yes", "5,000"], ["no", "–"], ["no", "–"], ["yes", "2,400"], ["yes", "6"]]
        assert table.get_row_at(4)[0] == "folder:used"  # relative to the current folder (tmp_path)
        # add a folder from the screen: a, type the path, enter
        await pilot.press("a")
        app.screen.query_one("#ds-add", Input).value = str(added)
        await pilot.press("enter")
        await settle(app, pilot)
        assert await wait_for(pilot, lambda: table.row_count == 6)
        assert table.get_row_at(5) == ["folder:added", "yes", "4"] and table.cursor_row == 5
        assert fixed_ws.added_datasets() == [f"folder:{added}"]
        classes = app.screen.query_one("#ds-classes", DataTable)
        assert [classes.get_row_at(i) for i in range(classes.row_count)] == [["cat", "2"], ["dog", "2"]]
        hint = str(app.screen.query_one("#ds-hint").render())
        assert "skipped 2 files:" in " ".join(hint.split()) and "broken.png" in hint
        grid = app.screen.query_one("#ds-gallery", DigitGrid)
        assert await wait_for(pilot, lambda: grid.query_one(".grid-image").image is not None)
        assert "folder:added: 4 random images" in str(grid.query_one(".grid-caption").render())


async def test_a_meshes_dataset_shows_its_shapes_skipped_files_and_usable_counts(fixed_ws, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    root = tmp_path / "meshes"
    (root / "ball").mkdir(parents=True)
    (root / "crate").mkdir()
    trimesh.creation.icosphere(subdivisions=1).export(root / "ball" / "ball.off")
    (root / "ball" / "broken.obj").write_text("v 0 0\nf 1 2 x\n")
    trimesh.creation.box((1.0, 2.0, 3.0)).export(root / "crate" / "crate.obj")
    open_box = trimesh.creation.box((1.0, 1.0, 1.0))
    open_box.update_faces(np.arange(len(open_box.faces) - 2))  # one side missing: no inside, found when sampled
    open_box.export(root / "crate" / "open.stl")
    fixed_ws.add_dataset(f"meshes:{root}")
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="datasets")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#ds-table", DataTable)
        assert table.get_row_at(4) == ["meshes:meshes", "yes", "4"]  # before sampling: every mesh file counts
        table.move_cursor(row=4)
        grid = app.screen.query_one("#ds-gallery", DigitGrid)
        caption = lambda: " ".join(str(grid.query_one(".grid-caption").render()).split())  # noqa: E731
        assert await wait_for(pilot, lambda: "2 random shapes" in caption(), 60)
        assert caption().endswith("ball crate") and grid.query_one(".grid-image").image is not None
        # sampled once: listed again with the usable meshes only, and each skipped file with its reason
        assert await wait_for(pilot, lambda: table.get_row_at(4)[2] == "2")
        await settle(app, pilot)
        classes = app.screen.query_one("#ds-classes", DataTable)
        assert [classes.get_row_at(i) for i in range(classes.row_count)] == [["ball", "1"], ["crate", "1"]]
        hint = " ".join(str(app.screen.query_one("#ds-hint").render()).split())
        assert "skipped 2 files:" in hint and "broken.obj (unreadable" in hint and "open.stl (" in hint
        assert "not sampled yet" not in hint


async def open_new_run_form(app, pilot):
    """Settle the app on its first screen, press n, return the new-run form."""
    await settle(app, pilot)
    await pilot.press("n")
    await pilot.pause()
    return app.screen


async def test_new_run_form_creates_the_run_with_its_overrides(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_run_form(app, pilot)
        form.query_one("#nr-name", Input).value = "gamma"
        form.query_one("#nr-iters", Input).value = "30"
        form.query_one("#nr-extra", Input).value = "diffusion.n_head=2"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert type(app.screen).__name__ == "RunsScreen"
        c = fixed_ws.run("gamma").config()
        # typed values override, untouched ones keep the preset's; the generator is the preset's (the denoiser)
        quick = cfgmod.preset("quick")
        assert c.model.kind == quick.model.kind == "diffusion"
        assert (c.diffusion.iters, c.diffusion.n_head, c.fields.steps) == (30, 2, quick.fields.steps)
        assert c.train == quick.train
        table = app.screen.query_one("#runs-table", DataTable)
        assert [str(k.value) for k in table.rows] == ["alpha", "beta", "gamma"]


async def test_new_run_form_chooses_the_generator(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_run_form(app, pilot)
        form.query_one("#nr-name", Input).value = "delta"
        assert "denoiser layers" in str(form.query_one("#nr-layers-label").render())
        form.query_one("#nr-model-kind", Select).value = "gpt"
        quick = cfgmod.preset("quick")
        # the four size inputs now show the GPT's keys, filled from the preset
        assert await wait_for(pilot, lambda: form.query_one("#nr-iters", Input).value == str(quick.train.iters))
        assert "GPT layers" in str(form.query_one("#nr-layers-label").render())
        form.query_one("#nr-layers", Input).value = "2"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        c = fixed_ws.run("delta").config()
        assert c.model.kind == "gpt" and c.model.n_layer == 2 and c.train == quick.train
        assert c.diffusion == quick.diffusion


async def test_new_run_form_switches_to_the_3d_preset_for_shapes_and_back(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_new_run_form(app, pilot)
        form.query_one("#nr-dataset", Select).value = "shapes"
        await pilot.pause()
        assert form.query_one("#nr-preset", Select).value == "quick3d"
        limit = str(cfgmod.preset("quick3d").data.limit)
        assert await wait_for(pilot, lambda: form.query_one("#nr-data-limit", Input).value == limit)
        assert "shapes (0 = all)" in str(form.query_one("#nr-data-limit-label").render())
        form.query_one("#nr-name", Input).value = "solid"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        c = fixed_ws.run("solid").config()
        assert (c.data.dataset, c.codebook.mode, c.fields.hidden) == ("shapes", "group:4", [16, 16])
        assert (c.model.kind, c.fields.subspace) == ("diffusion", 128)  # quick3d's generator came with the preset
        # and a 2D dataset under a 3D preset goes back to the 2D twin, keeping the dataset picked
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#nr-preset", Select).value = "quick3d"
        await pilot.pause()
        assert form.query_one("#nr-dataset", Select).value == "shapes"
        form.query_one("#nr-dataset", Select).value = "fashion-mnist"
        await pilot.pause()
        await pilot.pause()
        assert (form.query_one("#nr-preset", Select).value, form.query_one("#nr-dataset", Select).value) == (
            "quick", "fashion-mnist")


async def test_at_80x24_the_new_run_form_fits_and_keeps_its_buttons_in_view(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_new_run_form(app, pilot)
        for wid in ("#nr-name", "#nr-preset", "#nr-dataset", "#nr-create", "#nr-cancel"):
            r = form.query_one(wid).region
            assert r.width > 0 and r.right <= 80 and r.bottom <= 24, (wid, r)
        await pilot.press(*["tab"] * 8)  # focus walks down the fields: the grid scrolls to it
        focused = form.focused.region
        assert focused.height > 0 and focused.bottom <= form.query_one("#nr-create").region.y


async def test_new_run_form_shows_a_bad_value_and_creates_nothing(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#nr-name", Input).value = "bad"
        app.screen.query_one("#nr-iters", Input).value = "-5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert type(app.screen).__name__ == "NewRunScreen"
        assert "diffusion.iters" in str(app.screen.query_one("#nr-error").render())
        assert not fixed_ws.run("bad").exists()


async def test_loss_panel_grows_from_new_events_only(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.3)
        screen = app.screen
        plot = screen.query_one("#loss", LossPlot)
        assert plot.curve.stage == "train" and len(plot.curve.steps) == 41 and len(plot.curve.val_loss) == 4
        offset = screen.events_offset
        assert offset == fixed_ws.run("alpha").events_path.stat().st_size
        # a job appends more points: the panel picks up exactly those
        with open(fixed_ws.run("alpha").events_path, "a") as f:
            f.write(json.dumps({"t": tui_workspace.T0 + 81.5, "stage": "train", "event": "start"}) + "\n")
            for ev in tui_workspace.train_events(410, 500, total=600):
                f.write(json.dumps(ev) + "\n")
        for _ in range(40):
            await pilot.pause(0.05)
            if len(plot.curve.steps) > 41:
                break
        assert len(plot.curve.steps) == 41 + 10 and plot.curve.total == 600
        assert plot.curve.step == 500 and screen.events_offset > offset
        rendered = str(plot.render())
        assert "step 500/600" in rendered and "4,000 tokens/s" in rendered and "ETA 20s" in rendered
        # selecting another run shows its curve (fit of beta)
        await pilot.press("down")
        await settle(app, pilot, 0.2)
        assert screen.selected == "beta" and plot.curve.stage == "fit" and plot.curve.steps == [100.0, 200.0]


async def test_g_on_a_highlighted_run_opens_generate_on_that_run(fixed_ws):
    """Generate follows the run highlighted on Runs (not the last trained one), and keeps a run picked on it until
    another is highlighted."""
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.2)
        assert app.screen.selected == "alpha"
        await pilot.press("down")
        await settle(app, pilot, 0.2)
        await pilot.press("g")
        await settle(app, pilot, 0.2)
        run_select = app.screen.query_one("#gen-run", Select)
        assert run_select.value == "beta"
        run_select.value = "alpha"  # picked on Generate: back and forth to Runs keeps it while Runs' run is the same
        await pilot.press("f2")
        await settle(app, pilot, 0.2)
        await pilot.press("g")
        await settle(app, pilot, 0.2)
        assert app.screen.query_one("#gen-run", Select).value == "alpha"
        await pilot.press("f2")
        await pilot.press("up")
        await settle(app, pilot, 0.2)
        await pilot.press("down")
        await settle(app, pilot, 0.2)
        await pilot.press("g")
        await settle(app, pilot, 0.2)
        assert app.screen.query_one("#gen-run", Select).value == "beta"


async def test_generate_screen_shows_the_latest_sample(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.2)
        screen = app.screen
        assert screen.query_one("#gen-temperature", Input).value == "0.8"
        grid = screen.query_one("#gen-grid", DigitGrid)
        assert await wait_for(pilot, lambda: grid.query_one(".grid-image").image is not None)
        assert "10 digits, 1 per class" in str(grid.query_one(".grid-caption").render())
        # bad input is one clear message, nothing starts
        screen.query_one("#gen-top_k", Input).value = "many"
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not screen.busy


async def test_a_denoiser_runs_form_asks_for_its_own_settings_and_passes_only_those(tmp_path, monkeypatch, mnist5k):
    """No GPT knob is shown, pre-filled or passed for a denoiser run: DDIM steps and eta are, from its config."""
    monkeypatch.chdir(tmp_path)
    ws = tui_workspace.build_denoiser(tmp_path / "ws", mnist5k)
    app = NfgenApp(ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.2)
        screen = app.screen
        shown = [i.id for i in screen.query(Input) if i.display]
        assert shown == ["gen-steps", "gen-eta", "gen-cfg", "gen-n", "gen-seed", "gen-size"]
        screen.query_one("#gen-steps", Input).value = "20"
        assert screen._settings() == ("delta", {"digit": None, "steps": 20, "eta": 0.0, "cfg": 1.5, "n": 30,
                                                "seed": 0, "size": 28})


async def test_an_ar_diffusion_runs_form_asks_for_its_own_settings(tmp_path, monkeypatch):
    """Its Generate form is built from its declaration: temperature, the head's DDIM steps and eta, cfg — no top-k
    or top-p — pre-filled from its config and passed as they are."""
    from nfgen_tui.workspace import Workspace

    monkeypatch.chdir(tmp_path)
    ws = Workspace(tmp_path / "ws")
    c = cfgmod.apply_overrides(cfgmod.preset("quick"), ["model.kind=ar-diffusion", "sample.temperature=0.9",
                                                        "sample.steps=40", "device=auto"])
    tui_workspace._finished(ws.create_run("mar", c))
    app = NfgenApp(ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.2)
        screen = app.screen
        shown = [i.id for i in screen.query(Input) if i.display]
        assert shown == ["gen-temperature", "gen-steps", "gen-eta", "gen-cfg", "gen-n", "gen-seed", "gen-size"]
        screen.query_one("#gen-eta", Input).value = "0.5"
        assert screen._settings() == ("mar", {"digit": None, "temperature": 0.9, "steps": 40, "eta": 0.5,
                                              "cfg": 1.5, "n": 30, "seed": 0, "size": 28})


async def test_metrics_screen_tables_and_comparison(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="metrics")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        ot = screen.query_one("#met-overall", DataTable)
        rows = [[str(c) for c in ot.get_row_at(i)] for i in range(ot.row_count)]
        assert rows[0][:4] == ["beta", "0.2800", "0.3500", "0.7800"]  # the newest run with metrics first
        assert [r[0] for r in rows] == ["beta", "  train+noise", "  random-init", "reference (talk)"]
        assert rows[-1][1:4] == ["0.2162", "0.2773", "0.8400"]
        ct = screen.query_one("#met-class", DataTable)
        assert ct.row_count == 10 and len(ct.columns) == 5
        screen.query_one("#met-b").value = "alpha"
        await settle(app, pilot)
        assert len(ct.columns) == 1 + 2 * 4
        assert [str(ot.get_row_at(i)[0]) for i in range(ot.row_count)][3] == "alpha"


async def test_runs_screen_shows_states_and_the_job_log(fixed_ws):
    run = fixed_ws.run("alpha")
    (run.dir / "logs").mkdir()
    (run.dir / "logs" / "job.log").write_text("=== job x: nfgen train alpha\ntrain: 400/400  loss 2.1\r\n")
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot, 0.2)
        table = app.screen.query_one("#runs-table", DataTable)
        alpha = [str(c) for c in table.get_row("alpha")]
        beta = [str(c) for c in table.get_row("beta")]
        assert alpha[:6] == ["alpha", "✓", "✓", "✓", "✓", "✓"]
        assert beta[:3] == ["beta", "‖", "·"]
        log = app.screen.query_one("#job-log", Log)
        assert list(log.lines) == ["=== job x: nfgen train alpha", "train: 400/400  loss 2.1"]


@pytest.fixture(scope="module")
def trained_ws(tmp_path_factory):
    """A real, tiny run: fit → codebook → train (a few steps), so Generate samples from an actual model."""
    from nfgen_tui.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("trained") / "ws")
    trained_run(ws, ["model.kind=gpt", "data.limit=20", "fields.steps=10", "fields.init=random", "codebook.size=16", "codebook.iters=2",
                     "model.n_layer=1", "model.n_head=2", "model.n_embd=32", "train.iters=2", "train.eval_every=2",
                     "train.eval_iters=1", "train.batch_size=4", "device=cpu"])
    return ws


async def test_generate_samples_from_a_real_model_without_blocking_the_screen(trained_ws, tmp_path, monkeypatch):
    import threading

    import nfgen_tui.model.stage as model_stage

    monkeypatch.chdir(tmp_path)
    # hold the real sampler at its first progress report until the test has used the screen, so "the screen answers
    # while sampling runs" does not depend on how fast this machine samples
    release, real_sample = threading.Event(), model_stage.run_sample

    def held_sample(run, progress, device, **kw):
        def hold(done, total, **info):
            release.wait(60)
            progress(done, total, **info)

        return real_sample(run, hold, device, **kw)

    monkeypatch.setattr(model_stage, "run_sample", held_sample)
    app = NfgenApp(trained_ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.query_one("#gen-run").value == "tiny"
        screen.query_one("#gen-n", Input).value = "40"
        screen.query_one("#gen-seed", Input).value = "5"
        await pilot.press("ctrl+g")
        assert screen.busy
        # the app answers keys while the model samples 400 sequences in its worker
        await pilot.press("escape", "m")
        assert type(app.screen).__name__ == "MetricsScreen" and screen.busy
        release.set()
        await pilot.press("g")
        assert await wait_for(pilot, lambda: not screen.busy, 120)
        assert "done" in str(screen.query_one("#gen-status").render())
        # a second, small request: one digit
        screen.query_one("#gen-digit").value = "7"
        screen.query_one("#gen-n", Input).value = "3"
        await pilot.press("ctrl+g")
        assert await wait_for(pilot, lambda: not screen.busy, 120)
        folders = sorted((trained_ws.run("tiny").dir / "samples").glob("*/meta.json"), key=lambda p: p.stat().st_mtime)
        assert len(folders) == 2
        assert len(json.loads(folders[0].read_text())["labels"]) == 400
        meta = json.loads(folders[1].read_text())
        assert (meta["digit"], meta["seed"], meta["labels"]) == (7, 5, [7, 7, 7])
        grid = screen.query_one("#gen-grid", DigitGrid)
        assert grid.query_one(".grid-image").image is not None
        assert "3 × digit 7" in str(grid.query_one(".grid-caption").render())
        assert "done" in str(screen.query_one("#gen-status").render())


async def test_footer_names_each_screen_once(fixed_ws):
    """On Generate, ctrl+g "Generate" samples; the "g Generate" switch to the screen you are on is hidden."""
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5, start="generate")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        shown = [b.binding.description for b in app.screen.active_bindings.values()
                 if b.binding.show and b.enabled]
        assert shown.count("Generate") == 1 and {"Data", "Runs", "Metrics"} <= set(shown)
        await pilot.press("r")
        await pilot.pause()
        shown = [b.binding.description for b in app.screen.active_bindings.values() if b.binding.show and b.enabled]
        assert "Generate" in shown and "Runs" not in shown


async def test_at_80x24_the_loss_plot_keeps_its_height_and_the_form_can_be_hidden(fixed_ws):
    app = NfgenApp(fixed_ws, image_mode="halfcell", poll_s=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.screen.has_class("-narrow") and app.screen.has_class("-short")
        assert app.screen.query_one("#loss", LossPlot).size.height >= 12  # was 4 rows under a 12-row job log
        await pilot.press("g")
        await settle(app, pilot)
        grid = app.screen.query_one("#gen-grid", DigitGrid)
        caption = lambda: str(grid.query_one(".grid-caption").render())  # noqa: E731
        assert await wait_for(pilot, lambda: caption().startswith("showing 6 of 10 (ctrl+f hides the form)"))
        await pilot.press("ctrl+f")
        assert await wait_for(pilot, lambda: caption().startswith("10 digits"))
        assert not app.screen.query_one("#gen-form").display
        await pilot.press("ctrl+f")
        assert await wait_for(pilot, lambda: caption().startswith("showing 6 of 10"))


def test_a_terminal_query_that_times_out_gives_half_blocks_and_no_traceback(monkeypatch, caplog, capsys):
    """Under script(1) the terminal never answers textual-image's 0.1 s cell-size query: the library logged the
    TimeoutError with its traceback before the app drew. The probe is now quiet and the images are half blocks."""
    import sys

    import textual_image._terminal as term
    import textual_image.widget as tiw

    from nfgen_tui.tui import images

    class Tty:  # a terminal that reports no pixel size, so the library asks with an escape sequence
        def isatty(self):
            return True

        def write(self, text):
            pass

        def flush(self):
            pass

    def no_answer(*args, **kwargs):
        raise TimeoutError("Timeout waiting for data")

    monkeypatch.delattr(term.get_cell_size, "_result", raising=False)  # ask the terminal again
    monkeypatch.setattr(sys, "__stdout__", Tty())
    monkeypatch.setattr(term, "get_tiocgwinsz", lambda: (24, 80, 0, 0))
    monkeypatch.setattr(term, "capture_terminal_response", no_answer)
    assert images.quiet_probe(term.get_cell_size) is True
    assert not caplog.records and "Traceback" not in capsys.readouterr().err
    assert images.quiet_probe(lambda: no_answer()) is True  # a timeout the library does not catch
    assert images.quiet_probe(lambda: 80 / 0) is True  # under script(1) with no size the pty is 0×0
    assert term.get_cell_size() == term.CellSize(10, 20)
    monkeypatch.setattr(images, "TIMED_OUT", True)
    assert images.image_class("auto") is tiw.HalfcellImage and images.image_class("sixel") is tiw.SixelImage
    monkeypatch.setattr(images, "TIMED_OUT", False)
    assert images.quiet_probe(lambda: None) is False and images.image_class("auto") is tiw.Image
