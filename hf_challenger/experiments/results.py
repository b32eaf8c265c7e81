"""What runs of a comparison produce: :class:`RunResult` per arm and seed, :class:`Comparison` for
the whole. The runner (:mod:`~hf_challenger.experiments.compare`), the summaries and the figures
all take them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunResult:
    """One trained arm/seed.

    Attributes:
        logits: test logits ``[N, C]``; labels: test labels ``[N]`` (or ``[N, C]`` multi-hot).
        metrics: test metrics (``accuracy``, ``nll`` ... without prefix).
        validation: validation metrics (empty without a validation split).
    """

    arm: str
    seed: int
    output_dir: str
    metrics: dict[str, float]
    validation: dict[str, float]
    train_runtime: float
    training: dict[str, Any]
    logits: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)


@dataclass
class Comparison:
    """What :func:`~hf_challenger.experiments.compare.run_comparison` produced (``files`` only on the main process)."""

    task: str
    summary: dict[str, dict[str, dict[str, float]]]
    runs: list[RunResult]
    table: str
    files: dict[str, str]
    wall_time: float
