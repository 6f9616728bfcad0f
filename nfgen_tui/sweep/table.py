"""How a heat table (terminal, PNG, TUI) lays out one generator's sweep cells, declared by its grid module.

Each grid module (grid.py, ddim_grid.py, ar_grid.py) declares one `TableAxes`: which setting field runs down the
rows, which across the columns, which fields make one panel each, and how a panel, a cell and a value are named.
`grid.table_axes` finds a stored sweep's table from the fields its grid has, so pictures and the TUI never branch on
a generator.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class TableAxes:
    row: str
    col: str
    panel: tuple[str, ...]
    corner: str  # the terminal table's top-left header
    subtitle: str  # the PNG's line under the title
    row_label: Callable[[object], str]  # a PNG row
    col_label: Callable[[object], str]  # a column, everywhere
    defaults: dict = field(default_factory=dict)  # fields cells stored by older versions lack
    panel_title: Callable[..., str] = lambda *p: ", ".join(f"{v:g}" for v in p)  # a panel's title from its values
    label: Callable[[dict], str] = str  # a cell's setting in a few characters (front pictures)
    bare_panels: Callable[[dict], list[tuple]] | None = None  # panels of a grid without settings (None: all)

    @property
    def fields(self) -> set[str]:
        return {self.row, self.col, *self.panel}

    def fits(self, names) -> bool:
        """Whether a grid (or cell) with setting fields `names` is this table's: it has each field without a
        default and nothing else of the tables' fields."""
        return self.fields - set(self.defaults) <= set(names) <= self.fields

    def setting_of(self, cell: dict) -> tuple:
        return tuple(cell[f] if f in cell else self.defaults[f] for f in (self.row, self.col, *self.panel))

    def panel_of(self, setting: dict) -> tuple:
        return tuple(setting[f] if f in setting else self.defaults[f] for f in self.panel)

    def panels(self, sweep: dict) -> list[tuple]:
        """Every panel in grid order: of the stored settings, or of the bare grid's values."""
        if "settings" in sweep:
            return list(dict.fromkeys(self.panel_of(s) for s in sweep["settings"]))
        if self.bare_panels is not None:
            return self.bare_panels(sweep["grid"])
        g = sweep["grid"]
        return list(itertools.product(*(g.get(f, [self.defaults.get(f)]) for f in self.panel)))
