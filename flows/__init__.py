"""Prefect flows: one per DVC stage (its entry point) and the pipeline flow that runs `dvc repro`."""
