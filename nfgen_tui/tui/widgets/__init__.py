"""Widgets grouped by what they show: the live loss plot and digit grids."""
