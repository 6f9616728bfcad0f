"""Inference tuning (`nfgen sweep`): score a grid of temperature × top-k (× top-p) settings — DDIM steps × eta × cfg
for a diffusion run (ddim_grid.py) — and pick the best one.

`run_sweep` (stage.py) computes and stores eval/sweep.json; `best_cell` (grid.py) is the stated rule;
`write_pictures` / `print_sweep` (report.py) draw it; `apply_setting` makes a setting the run's default.
"""

from .grid import RULE, best_cell, cell_key, parse_grid
from .stage import apply_setting, load_cell_images, load_sweep, run_sweep, sweep_path

__all__ = ["RULE", "apply_setting", "best_cell", "cell_key", "load_cell_images", "load_sweep", "parse_grid",
           "run_sweep", "sweep_path"]
