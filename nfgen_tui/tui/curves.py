"""Live training curves from `events.jsonl`: loss / val_loss against step, with throughput and ETA.

Pure Python (no Textual) so the arithmetic is testable on its own. Fed only with *new* events (the tailer keeps
a byte offset), so following a long run costs nothing per refresh beyond the lines just written.

Events a stage writes for the curve (see docs/contracts.md): `step` (or `iter`), `loss` (or `distortion`),
optional `val_loss`, `total` (the
step the stage runs to), and a rate such as `fields_per_s` / `tokens_per_s`. A `start` event of a stage begins a
new segment (a resumed run keeps its earlier points; steps continue from the checkpoint). Events with a `chunk`
(fit restarts `step` per chunk of fields) are laid end to end; only rank 0 of a distributed job is plotted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RATE_SUFFIX = "_per_s"


@dataclass
class Curve:
    """One stage's points and latest figures."""

    stage: str
    steps: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_steps: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    total: float | None = None
    rate_name: str | None = None
    rate: float | None = None
    last_t: float | None = None
    first: tuple[float, float] | None = None  # (t, step) of the first point since the last start: for a rate
    chunk: object = None  # stages that restart `step` per chunk (fit) continue the x axis from the last chunk
    chunk_base: float = 0.0
    status: str = ""

    @property
    def step(self) -> float | None:
        return self.steps[-1] if self.steps else None

    def steps_per_s(self) -> float | None:
        if self.first is None or self.last_t is None or not self.steps:
            return None
        dt = self.last_t - self.first[0]
        ds = self.steps[-1] - self.first[1]
        return ds / dt if dt > 0 and ds > 0 else None

    def eta_s(self) -> float | None:
        """Seconds left at the pace since the stage (re)started; None when unknown or done."""
        sps = self.steps_per_s()
        if self.total is None or self.step is None or sps is None or self.step >= self.total:
            return None
        return (self.total - self.step) / sps


class Curves:
    """All stages' curves of one run; `add(events)` takes what the tailer just read."""

    def __init__(self) -> None:
        self.by_stage: dict[str, Curve] = {}
        self.latest: str | None = None  # the stage that logged a point last: the one worth showing

    def curve(self, stage: str) -> Curve:
        if stage not in self.by_stage:
            self.by_stage[stage] = Curve(stage)
        return self.by_stage[stage]

    def add(self, events: list[dict]) -> bool:
        """Fold new events in; True if anything plotted changed."""
        changed = False
        for ev in events:
            stage = ev.get("stage")
            if not isinstance(stage, str):
                continue
            c = self.curve(stage)
            kind = ev.get("event")
            if kind in ("start", "done", "failed", "interrupted"):
                c.status = {"start": "running"}.get(kind, kind)
                if kind == "start":
                    c.first = None
                changed = True
                continue
            step, t = ev.get("step", ev.get("iter")), ev.get("t")
            loss = ev.get("loss", ev.get("distortion"))
            if not isinstance(step, (int, float)) or ev.get("rank", 0) not in (0, None):
                continue  # one curve per stage: rank 0 speaks for a distributed job
            if "chunk" in ev:
                if ev["chunk"] != c.chunk:
                    c.chunk, c.chunk_base = ev["chunk"], (c.steps[-1] if c.steps else 0.0)
                step = c.chunk_base + step
            if c.status != "running":
                c.status = "running"  # points after an end: the stage was resumed
            if isinstance(ev.get("total"), (int, float)):
                c.total = float(ev["total"])
            for k, v in ev.items():
                if k.endswith(RATE_SUFFIX) and isinstance(v, (int, float)):
                    c.rate_name, c.rate = k[: -len(RATE_SUFFIX)], float(v)
            if isinstance(t, (int, float)):
                c.last_t = float(t)
                if c.first is None:
                    c.first = (float(t), float(step))
            if isinstance(loss, (int, float)):
                c.steps.append(float(step))
                c.loss.append(float(loss))
                self.latest = stage
                changed = True
            if isinstance(ev.get("val_loss"), (int, float)):
                c.val_steps.append(float(step))
                c.val_loss.append(float(ev["val_loss"]))
                self.latest = stage
                changed = True
        return changed


def thin(xs: list[float], ys: list[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most `max_points` evenly spaced points, always keeping the last one (a plot can't show more)."""
    n = len(xs)
    if n <= max_points or max_points < 2:
        return xs, ys
    idx = [round(i * (n - 1) / (max_points - 1)) for i in range(max_points)]
    return [xs[i] for i in idx], [ys[i] for i in idx]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def summary(c: Curve) -> str:
    """One line over the plot: step/total, last losses, throughput, ETA (short: it shares a narrow panel)."""
    parts = [c.stage]
    if c.step is not None:
        parts.append(f"step {c.step:g}" + (f"/{c.total:g}" if c.total else ""))
    if c.loss:
        parts.append(f"loss {c.loss[-1]:.4g}")
    if c.val_loss:
        parts.append(f"val {c.val_loss[-1]:.4g}")
    rate, unit = (c.rate, f"{c.rate_name}/s") if c.rate is not None else (c.steps_per_s(), "steps/s")
    if rate is not None:
        parts.append(f"{rate:,.0f} {unit}" if rate >= 100 else f"{rate:.3g} {unit}")
    if c.status in ("running", ""):
        parts.append(f"ETA {fmt_duration(c.eta_s())}")
    elif c.status == "done" and c.total and c.step is not None and c.step < c.total:
        parts.append("stopped early")  # e.g. train checkpointed on SIGTERM and returned
    else:
        parts.append(c.status)
    return " · ".join(parts)
