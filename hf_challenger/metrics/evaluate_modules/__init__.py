"""`evaluate` metric scripts shipped with hf-challenger; load a folder with ``evaluate.load(path)``."""

from __future__ import annotations

from typing import Any


def classification_metric_info(description: str, citation: str, inputs_description: str) -> Any:
    """``evaluate.MetricInfo`` of the shipped modules: ``predictions`` [N, C] floats, ``references`` [N] ints."""
    import datasets
    import evaluate

    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs_description,
        features=datasets.Features(
            {"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
        ),
    )
