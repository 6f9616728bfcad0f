"""The live-curve arithmetic behind the loss panel: folding new events, throughput, ETA, thinning."""

from __future__ import annotations

from nfgen_tui.tui.curves import Curves, fmt_duration, summary, thin


def ev(t, step, loss, **kw):
    return {"t": t, "stage": "train", "step": step, "loss": loss, **kw}


def test_curves_follow_the_latest_stage_and_compute_eta():
    c = Curves()
    assert c.add([{"t": 0, "stage": "fit", "event": "start"}, {"t": 5, "stage": "fit", "step": 10, "loss": 1.0}])
    assert c.latest == "fit"
    assert c.add([{"t": 10, "stage": "train", "event": "start"},
                  ev(10, 0, 5.0, total=100), ev(20, 20, 4.0, tokens_per_s=1500.0), ev(30, 40, 3.0, val_loss=3.5)])
    tr = c.by_stage["train"]
    assert c.latest == "train" and tr.steps == [0, 20, 40] and tr.val_steps == [40] and tr.val_loss == [3.5]
    assert tr.steps_per_s() == 2.0 and tr.eta_s() == 30.0
    assert summary(tr) == "train · step 40/100 · loss 3 · val 3.5 · 1,500 tokens/s · ETA 30s"
    assert not c.add([{"t": 31, "stage": "train", "note": "no step"}])


def test_resume_restarts_the_rate_but_keeps_points():
    c = Curves()
    c.add([ev(0, 0, 5.0, total=1000), ev(100, 100, 4.0), {"t": 101, "stage": "train", "event": "interrupted"}])
    assert c.by_stage["train"].status == "interrupted"
    c.add([{"t": 500, "stage": "train", "event": "start"}, ev(510, 100, 4.0), ev(520, 200, 3.5)])
    tr = c.by_stage["train"]
    assert len(tr.steps) == 4 and tr.status == "running"
    assert tr.steps_per_s() == 10.0  # from the restart on, not diluted by the pause
    assert tr.eta_s() == 80.0


def test_done_stage_shows_its_end_not_an_eta():
    c = Curves()
    c.add([ev(0, 0, 5.0, total=10), ev(10, 10, 1.0), {"t": 11, "stage": "train", "event": "done"}])
    assert summary(c.by_stage["train"]).endswith("done")
    assert c.by_stage["train"].eta_s() is None
    c.add([{"t": 12, "stage": "train", "event": "start"}, ev(13, 11, 0.9, total=20),
           {"t": 14, "stage": "train", "event": "done"}])
    assert summary(c.by_stage["train"]).endswith("stopped early")


def test_thin_keeps_ends_and_bounds_points():
    xs = list(range(1000))
    tx, ty = thin(xs, [2 * x for x in xs], 50)
    assert len(tx) == 50 and tx[0] == 0 and tx[-1] == 999 and ty == [2 * x for x in tx]
    assert thin([1, 2], [3, 4], 50) == ([1, 2], [3, 4])


def test_fmt_duration():
    assert [fmt_duration(s) for s in (None, 5, 65, 3725)] == ["–", "5s", "1m05s", "1h02m"]


def test_chunked_steps_continue_the_axis_and_other_ranks_are_ignored():
    c = Curves()
    c.add([{"t": 1, "stage": "fit", "chunk": 0, "step": 25, "loss": 0.5, "rank": 0},
           {"t": 1, "stage": "fit", "chunk": 1, "step": 25, "loss": 0.6, "rank": 1},
           {"t": 2, "stage": "fit", "chunk": 0, "step": 50, "loss": 0.3, "rank": 0},
           {"t": 3, "stage": "fit", "chunk": 2, "step": 25, "loss": 0.5, "rank": 0},
           {"t": 4, "stage": "fit", "chunk": 2, "step": 50, "loss": 0.2, "rank": 0}])
    assert c.by_stage["fit"].steps == [25, 50, 75, 100]
    assert c.by_stage["fit"].loss == [0.5, 0.3, 0.5, 0.2]
