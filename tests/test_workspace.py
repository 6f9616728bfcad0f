import json
import multiprocessing as mp
import os

import pytest

from nfgen_tui import config as cfg
from nfgen_tui.errors import UserError
from nfgen_tui.workspace import FILE_MODE, atomic_write_json, atomic_write_text, validate_run_name


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", ".hidden", "", "a b", "x\\y", "/abs"])
def test_run_names_that_escape_or_hide_are_refused(name):
    with pytest.raises(UserError):
        validate_run_name(name)


@pytest.mark.parametrize("name", ["run1", "quick.v2", "my_run-3"])
def test_ordinary_run_names_pass(name):
    assert validate_run_name(name) == name


def test_create_run_writes_the_resolved_config(workspace):
    c = cfg.apply_overrides(cfg.preset("quick"), ["train.iters=5"])
    run = workspace.create_run("r", c)
    assert run.config() == c
    with pytest.raises(UserError, match="already exists"):
        workspace.create_run("r", cfg.preset("quick"))
    assert [r.name for r in workspace.runs()] == ["r"]
    assert run.states() == {s: "not started" for s in ("fit", "codebook", "train", "sample", "eval")}


def test_unknown_run_is_a_user_error(workspace):
    with pytest.raises(UserError, match="unknown run"):
        workspace.run("ghost").config()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    p = tmp_path / "sub" / "f.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_text(p, '{"a": 2}')
    assert json.loads(p.read_text()) == {"a": 2}
    assert os.listdir(p.parent) == ["f.json"]
    assert os.stat(p).st_mode & 0o777 == FILE_MODE  # like open(), not mkstemp's private 0600


def _hold_lock(root, ready, release):
    from nfgen_tui.workspace import Workspace

    with Workspace(root).run("r").lock("fit"):
        ready.set()
        release.wait(10)


def test_a_second_writer_on_a_stage_is_refused(workspace):
    run = workspace.create_run("r", cfg.preset("quick"))
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(workspace.root), ready, release))
    p.start()
    try:
        assert ready.wait(30)
        assert run.stage_state("fit") == "running"
        with pytest.raises(UserError, match="already running"):
            with run.stage("fit"):
                pass
        with run.stage("codebook"):  # other stages are free
            pass
    finally:
        release.set()
        p.join(10)
    with run.stage("fit"):  # free again once the holder is gone
        pass


def test_a_failing_stage_is_marked_failed(workspace):
    run = workspace.create_run("r", cfg.preset("quick"))
    with pytest.raises(RuntimeError):
        with run.stage("fit"):
            assert run.stage_dir("fit").is_dir()  # made by run.stage(): killed now, the stage reads "interrupted"
            raise RuntimeError("boom")
    assert run.stage_state("fit") == "failed"
    events, offset = run.events("fit")
    assert [e["event"] for e in events] == ["start", "failed"]
    run.log_event("fit", step=1, loss=0.5)
    more, _ = run.events("fit", offset)
    assert more == [{**more[0], "step": 1, "loss": 0.5}]
