"""Metrics of the Challenger paper, on numpy arrays and torch tensors.

- Single-label (``scores [N, C]`` logits or probabilities, ``labels [N]``):
  :func:`accuracy`, :func:`nll`, :func:`brier_score`, :func:`ece`,
  :func:`reliability_diagram`.
- Multi-label (``scores [N, C]``, multi-hot ``labels [N, C]``): :func:`macro_auc`,
  :func:`macro_auc_ci` (bootstrap interval).
- Filter diversity (Table 1): :func:`filter_cosine_similarity`,
  :func:`layer_filter_cosine_similarity`.
- ``transformers.Trainer``: :func:`make_compute_metrics`.
- ``evaluate`` modules for ECE, Brier and NLL, loadable offline from
  :func:`evaluate_module_path`.
"""

from __future__ import annotations

from pathlib import Path

from .auc import AUCInterval, macro_auc, macro_auc_ci
from .classification import (
    DEFAULT_NUM_BINS,
    ReliabilityDiagram,
    accuracy,
    brier_score,
    ece,
    nll,
    reliability_diagram,
)
from .compute import make_compute_metrics
from .filters import filter_cosine_similarity, layer_filter_cosine_similarity

EVALUATE_MODULES = ("ece", "brier_score", "nll")
_EVALUATE_DIR = Path(__file__).resolve().parent / "evaluate_modules"


def evaluate_module_path(name: str) -> str:
    """Folder of a shipped ``evaluate`` metric module, for ``evaluate.load(path)``.

    ``evaluate.load(evaluate_module_path("ece"))`` loads the module from the installed
    package, without the Hub. Its ``compute`` gives the same value as the function of
    the same name here (the module calls it).

    Args:
        name: one of ``"ece"``, ``"brier_score"``, ``"nll"``.
    """
    if name not in EVALUATE_MODULES:
        raise ValueError(f"no evaluate module named {name!r}; available: {', '.join(EVALUATE_MODULES)}")
    folder = _EVALUATE_DIR / name
    script = folder / f"{name}.py"
    if not script.is_file():
        raise FileNotFoundError(f"evaluate module script {script} is missing from the installed package")
    return str(folder)


__all__ = [
    "AUCInterval",
    "DEFAULT_NUM_BINS",
    "EVALUATE_MODULES",
    "ReliabilityDiagram",
    "accuracy",
    "brier_score",
    "ece",
    "evaluate_module_path",
    "filter_cosine_similarity",
    "layer_filter_cosine_similarity",
    "macro_auc",
    "macro_auc_ci",
    "make_compute_metrics",
    "nll",
    "reliability_diagram",
]
