"""Run directory: the unit every command reads and writes."""
