"""One screen per area: datasets, runs (+ the new-run form), generate, metrics."""
