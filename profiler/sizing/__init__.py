"""Capacity sizing: queueing maths, demand from a measured run, sweeps across presets."""
