"""A live loss plot: plotext draws loss and val_loss against step into a Static, sized to the widget."""

from __future__ import annotations

import threading

import plotext
from rich.text import Text
from textual.widgets import Static

from ..curves import Curve, summary, thin

_PLOTEXT_LOCK = threading.Lock()  # plotext keeps one global figure


def plot_text(curve: Curve, width: int, height: int) -> Text:
    """The plot of one curve as rich Text (ANSI from plotext), `width`×`height` cells."""
    width, height = max(20, width), max(6, height)
    with _PLOTEXT_LOCK:
        fig = plotext.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("simple")  # no canvas colour: the panel background shows through
        xs, ys = thin(curve.steps, curve.loss, 2 * width)
        fig.draw(fig.signal(xs, ys).lines())
        if curve.val_loss:
            vx, vy = thin(curve.val_steps, curve.val_loss, width)
            fig.draw(fig.signal(vx, vy, marker="●"))
        fig.label("step", "x")
        out = fig.build().string()
    return Text.from_ansi(out, no_wrap=True)


class LossPlot(Static):
    """Shows the curve it is given; redraws only when `show` is called with new points or the size changes."""

    DEFAULT_CSS = "LossPlot { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.curve: Curve | None = None
        self._drawn: tuple | None = None

    def show(self, curve: Curve | None) -> None:
        self.curve = curve
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        c = self.curve
        w, h = self.content_size.width, self.content_size.height
        if c is None or not c.steps:
            key = ("empty", c.stage if c else None, w, h)
            if key != self._drawn:
                self._drawn = key
                self.update(Text("no loss logged yet — start a stage (f fit, b codebook, t train, p pipeline)",
                                 style="dim"))
            return
        key = (c.stage, len(c.steps), len(c.val_steps), c.status, w, h)
        if key == self._drawn or w <= 0 or h <= 0:
            return
        self._drawn = key
        body = plot_text(c, w, h - 2)
        head = Text(summary(c), no_wrap=True, overflow="ellipsis")
        legend = Text.assemble(("━ loss", "bold bright_blue"), "   ", ("● val_loss", "bold bright_green"))
        self.update(Text("\n").join([head, legend, body]))
