"""Accelerator presets and their timing model: shared by the simulated model server and sizing."""
