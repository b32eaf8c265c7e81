"""`evaluate` metric scripts shipped with hf-challenger; load a folder with ``evaluate.load(path)``."""
