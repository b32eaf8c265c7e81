"""``compute_metrics`` factory for ``transformers.Trainer``."""

from __future__ import annotations

from typing import Any, Callable, Literal

from .auc import _check_bootstrap_args, macro_auc, macro_auc_ci
from .classification import DEFAULT_NUM_BINS, _check_num_bins, accuracy, brier_score, ece, nll

TASKS = ("single_label", "multi_label")


def _first(value: Any, name: str) -> Any:
    """Trainer passes a tuple when the model returns several outputs; logits come first."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"EvalPrediction.{name} is an empty {type(value).__name__}")
        return value[0]
    return value


def make_compute_metrics(
    task: Literal["single_label", "multi_label"] = "single_label",
    *,
    from_logits: bool = True,
    n_bins: int = DEFAULT_NUM_BINS,
    n_resamples: int = 0,
    confidence: float = 0.90,
    seed: int = 0,
) -> Callable[[Any], dict[str, float]]:
    """Build a ``compute_metrics`` function for ``transformers.Trainer``.

    The returned function takes an ``EvalPrediction`` (or any object with
    ``predictions`` and ``label_ids``; a tuple of predictions uses its first item, the
    logits) and returns the paper's metrics as floats (Trainer adds the ``eval_`` prefix):

    - ``"single_label"``: predictions ``[N, C]``, label_ids ``[N]`` class indices ->
      ``accuracy``, ``nll`` (nats), ``brier`` (mean over classes, see
      :func:`~hf_challenger.metrics.brier_score`), ``ece`` (``n_bins`` equal-width bins).
    - ``"multi_label"``: predictions ``[N, C]`` scores, label_ids ``[N, C]`` multi-hot ->
      ``macro_auc``; with ``n_resamples > 0`` also ``macro_auc_lower`` and
      ``macro_auc_upper``, the bootstrap interval of :func:`~hf_challenger.metrics.macro_auc_ci`.

    Args:
        task: ``"single_label"`` or ``"multi_label"``.
        from_logits: whether single-label predictions are logits (Trainer's default: the
            model's ``logits``) or probabilities. Not used for multi-label (AUC is
            invariant to the sigmoid).
        n_bins: ECE bins (>= 1).
        n_resamples: bootstrap resamples for the multi-label interval; 0 disables it.
        confidence: coverage of that interval, in (0, 1).
        seed: seed of the bootstrap.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
    n_bins = _check_num_bins(n_bins)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise ValueError(f"n_resamples must be an integer >= 0 (0 = no interval), got {n_resamples!r}")
    if task == "single_label" and n_resamples:
        raise ValueError("n_resamples (bootstrap interval of the macro AUC) applies only to task='multi_label'")
    if n_resamples:
        _check_bootstrap_args(n_resamples, confidence)

    def compute_metrics(eval_prediction: Any) -> dict[str, float]:
        scores = _first(eval_prediction.predictions, "predictions")
        labels = _first(eval_prediction.label_ids, "label_ids")
        if task == "single_label":
            return {
                "accuracy": accuracy(scores, labels),
                "nll": nll(scores, labels, from_logits=from_logits),
                "brier": brier_score(scores, labels, from_logits=from_logits),
                "ece": ece(scores, labels, n_bins=n_bins, from_logits=from_logits),
            }
        if not n_resamples:
            return {"macro_auc": macro_auc(scores, labels)}
        interval = macro_auc_ci(scores, labels, n_resamples=n_resamples, confidence=confidence, seed=seed)
        return {"macro_auc": interval.auc, "macro_auc_lower": interval.lower, "macro_auc_upper": interval.upper}

    return compute_metrics
