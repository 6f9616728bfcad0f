"""What every screen shares: header, footer, and a way to show a UserError without a traceback."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from ...errors import UserError


class BaseScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")
        yield from self.body()
        yield Footer()

    def body(self) -> ComposeResult:  # pragma: no cover - every screen overrides it
        yield from ()

    @property
    def workspace(self):
        return self.app.workspace

    def error(self, e: BaseException) -> None:
        """A user mistake is one clear line; anything else names its type."""
        msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        self.notify(msg, severity="error", timeout=8)
