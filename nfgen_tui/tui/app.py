"""`nfgen` without arguments: a keyboard-first Textual app over the workspace.

Four screens (Textual modes, so each keeps its state while you switch): d datasets, r runs, g generate,
m metrics. Every action is also in the command palette (ctrl+p). Stages run as detached jobs (`nfgen_tui.jobs`),
so quitting the app or losing the SSH session never stops them; the app only reads the run folders and re-attaches
to whatever is running when it starts.
"""

from __future__ import annotations

import os
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..workspace import Workspace
from . import images  # noqa: F401  (textual-image probes the terminal at import: before the app runs)
from .screens.base import display_path
from .screens.datasets import DatasetsScreen
from .screens.generate import GenerateScreen
from .screens.metrics import MetricsScreen
from .screens.runs import STAGE_KEYS, RunsScreen


class NfgenApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "nfgen"
    MODES = {"datasets": DatasetsScreen, "runs": RunsScreen, "generate": GenerateScreen, "metrics": MetricsScreen}
    BINDINGS = [
        # footer words kept short: at 80 columns every shown key fits beside "^p palette" (full names in the palette)
        Binding("d", "switch_mode('datasets')", "Data"),
        Binding("r", "switch_mode('runs')", "Runs"),
        Binding("g", "switch_mode('generate')", "Generate"),
        Binding("m", "switch_mode('metrics')", "Metrics"),
        Binding("q", "quit", "Quit"),
        # letters go to a focused text field: function keys switch screens from anywhere, escape leaves the field
        Binding("f1", "switch_mode('datasets')", "Datasets", show=False),
        Binding("f2", "switch_mode('runs')", "Runs", show=False),
        Binding("f3", "switch_mode('generate')", "Generate", show=False),
        Binding("f4", "switch_mode('metrics')", "Metrics", show=False),
        Binding("escape", "leave_field", "Leave field", show=False),
    ]

    def __init__(self, workspace: Workspace, image_mode: str | None = None, poll_s: float = 1.0,
                 start: str = "runs") -> None:
        super().__init__()
        self.workspace = workspace
        self.image_mode = image_mode
        self.poll_s = poll_s
        self._start = start
        self.current_run: str | None = None  # the run last highlighted on Runs: Generate opens on it
        self.highlights = 0  # how many times Runs' highlight moved: Generate follows only a new one

    def on_mount(self) -> None:
        self.sub_title = display_path(self.workspace.root)
        self.switch_mode(self._start)
        self.run_worker(warm_up, thread=True, group="warm-up")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the key of the screen you are on: the footer then names each place once (Generate's own ctrl+g
        "Generate" no longer sits beside a "g Generate" that goes nowhere)."""
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return False
        return True

    def action_leave_field(self) -> None:
        """Escape out of a text field, so the one-letter keys work again."""
        self.screen.set_focus(None)

    async def run_on(self, mode: str, action: str) -> None:
        """Switch to a screen, then run one of its actions (how palette entries reach screen actions)."""
        await self.switch_mode(mode)
        await self.screen.run_action(action)

    def _cmd(self, mode: str, action: str):
        return lambda: self.run_worker(self.run_on(mode, action), group="palette")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Datasets", "Datasets: availability, per-class counts, a gallery (d)",
                            lambda: self.switch_mode("datasets"))
        yield SystemCommand("Runs", "Runs, stage states, live loss and job log (r)", lambda: self.switch_mode("runs"))
        yield SystemCommand("Generate", "Sample digits from a trained run (g)", lambda: self.switch_mode("generate"))
        yield SystemCommand("Metrics", "Eval tables of a run and a comparison of two (m)",
                            lambda: self.switch_mode("metrics"))
        yield SystemCommand("Prepare dataset", "Download / check the selected dataset",
                            self._cmd("datasets", "prepare"))
        yield SystemCommand("New run", "Create a run from a preset with a form", self._cmd("runs", "new_run"))
        yield SystemCommand("Start pipeline", "Run every remaining stage of the selected run as a job",
                            self._cmd("runs", "start('pipeline')"))
        for stage, key in STAGE_KEYS.items():
            yield SystemCommand(f"Start {stage}", f"Start stage {stage} of the selected run as a job ({key})",
                                self._cmd("runs", f"start('{stage}')"))
        yield SystemCommand("Cancel job", "SIGTERM the selected run's job: it checkpoints and stops",
                            self._cmd("runs", "cancel"))
        yield SystemCommand("Generate digits", "Sample with the settings on the Generate screen",
                            self._cmd("generate", "generate"))
        yield SystemCommand("Compare runs", "Metrics of two runs side by side", self._cmd("metrics", "focus_compare"))
        yield SystemCommand("Run sweep", "Sweep temperature × top-k of the Metrics screen's run as a job (s)",
                            self._cmd("metrics", "sweep"))
        yield SystemCommand("Sweep metric", "Show the next metric in the sweep heat table (v)",
                            self._cmd("metrics", "next_metric"))
        yield SystemCommand("Open sweep cell in Generate", "Generate with the selected sweep cell's setting (enter)",
                            self._cmd("metrics", "open_cell"))
        yield from super().get_system_commands(screen)


def warm_up() -> None:
    """Import the sweep code (and torch with it) off the UI thread, so the first visit to Metrics doesn't wait."""
    import nfgen_tui.sweep  # noqa: F401


def run_app(workspace: Workspace) -> None:
    NfgenApp(workspace, image_mode=os.environ.get("NFGEN_IMAGES")).run()
