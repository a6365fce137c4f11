"""Pure functions of a run's recorded data (no clocks, no processes)."""
