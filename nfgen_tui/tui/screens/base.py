"""What every screen shares: header, footer, and a way to show a UserError without a traceback."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from ...errors import UserError


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(p)


class BaseScreen(Screen):
    # a default SSH window is 80×24: below 100 columns / 32 rows the screen gets class -narrow / -short, and
    # app.tcss gives the panels a layout that fits (a shorter job log, a narrower form, stacked tables)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides it
        yield from ()

    @property
    def workspace(self):
        return self.app.workspace

    def post(self, fn, *args, **kwargs) -> None:
        """From a worker thread: run `fn` on the UI thread — unless the app is closing (the user quit mid-load)."""
        if not self.app.is_running:
            return
        try:
            self.app.call_from_thread(fn, *args, **kwargs)
        except RuntimeError:
            pass

    def error(self, e: BaseException) -> None:
        """A user mistake is one clear line; anything else names its type."""
        msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        self.notify(msg, severity="error", timeout=8)
