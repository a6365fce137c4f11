"""Run orchestration: the model server process, the workload process, the run directory."""
