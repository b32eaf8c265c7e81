"""Single-label classification metrics of the paper: accuracy, NLL, Brier score, ECE.

All functions take ``scores [N, C]`` (one row per sample, one column per class) and
integer ``labels [N]`` in ``[0, C)``, as numpy arrays or torch tensors, and return plain
Python floats. Whether ``scores`` are logits or probabilities is always explicit:
``from_logits=True`` applies a softmax (NLL uses a stable log-softmax instead);
``from_logits=False`` requires every row to be a probability vector and refuses
anything else (logits passed by mistake are caught here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._arrays import class_labels, log_softmax, probabilities, scores_2d

DEFAULT_NUM_BINS = 15


def accuracy(scores: Any, labels: Any) -> float:
    """Fraction of samples whose highest-scoring class equals the label.

    Args:
        scores: ``[N, C]`` logits or probabilities (argmax is the same for both; ties go
            to the lowest class index).
        labels: ``[N]`` integer class indices in ``[0, C)``.
    """
    scores = scores_2d(scores, "scores")
    labels = class_labels(labels, *scores.shape)
    return float(np.mean(scores.argmax(axis=1) == labels))


def nll(scores: Any, labels: Any, *, from_logits: bool = False) -> float:
    """Mean negative log-likelihood of the true class, in nats.

    ``mean_i -log p_i[labels_i]``. From logits (``from_logits=True``) it is computed with
    a log-softmax, so it is exact even for very confident models. From probabilities,
    each true-class probability is clipped below at float64's machine epsilon (2.2e-16),
    as scikit-learn's ``log_loss`` does, so a zero probability gives about 36.04 instead
    of infinity.

    Args:
        scores: ``[N, C]`` logits (``from_logits=True``) or probabilities (``False``).
        labels: ``[N]`` integer class indices in ``[0, C)``.
    """
    if from_logits:
        logits = scores_2d(scores, "scores")
        labels = class_labels(labels, *logits.shape)
        log_p = np.take_along_axis(log_softmax(logits), labels[:, None], axis=1)[:, 0]
    else:
        probs = probabilities(scores, from_logits=False)
        labels = class_labels(labels, *probs.shape)
        p_true = np.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
        log_p = np.log(np.maximum(p_true, np.finfo(np.float64).eps))
    return float(-np.mean(log_p))


def brier_score(
    scores: Any,
    labels: Any,
    *,
    from_logits: bool = False,
    reduction: Literal["mean", "sum"] = "mean",
) -> float:
    """Multi-class Brier score: squared error between probability vector and one-hot label.

    Per sample, ``s_i = sum_c (p_ic - y_ic)^2`` with ``y_i`` the one-hot label; the result
    is ``mean_i s_i / C`` with ``reduction="mean"`` (the default: the mean over classes,
    which is the normalisation whose magnitudes match the paper's tables and lies in
    ``[0, 2 / C]``), or ``mean_i s_i`` with ``reduction="sum"`` (Brier's original
    definition, in ``[0, 2]``). Lower is better.

    Args:
        scores: ``[N, C]`` logits (``from_logits=True``) or probabilities (``False``).
        labels: ``[N]`` integer class indices in ``[0, C)``.
        reduction: ``"mean"`` or ``"sum"`` over the class axis.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum' (over classes), got {reduction!r}")
    probs = probabilities(scores, from_logits)
    labels = class_labels(labels, *probs.shape)
    p_true = np.take_along_axis(probs, labels[:, None], axis=1)[:, 0]
    # sum_c (p_c - y_c)^2 = sum_c p_c^2 - 2 p_label + 1
    per_sample = np.square(probs).sum(axis=1) - 2.0 * p_true + 1.0
    if reduction == "mean":
        per_sample = per_sample / probs.shape[1]
    return float(np.mean(per_sample))


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin calibration statistics of top-label confidence.

    Attributes:
        bin_edges: ``[B + 1]`` edges; bin ``b`` is ``(bin_edges[b], bin_edges[b + 1]]``
            (the first bin also holds a confidence of exactly 0).
        confidence: ``[B]`` mean top-label confidence per bin (NaN for empty bins).
        accuracy: ``[B]`` fraction correct per bin (NaN for empty bins).
        count: ``[B]`` number of samples per bin (int64).
        ece: expected calibration error, ``sum_b count_b / N * |accuracy_b - confidence_b|``.
    """

    bin_edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float

    @property
    def num_bins(self) -> int:
        """Number of bins ``B``."""
        return int(self.count.shape[0])


def _check_num_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    return int(n_bins)


def reliability_diagram(
    scores: Any, labels: Any, *, n_bins: int = DEFAULT_NUM_BINS, from_logits: bool = False
) -> ReliabilityDiagram:
    """Bin samples by top-label confidence into ``n_bins`` equal-width bins on ``[0, 1]``.

    The confidence of a sample is its largest class probability, its prediction the
    argmax. Bins are right-closed, ``(lo, hi]``, so a confidence of exactly ``1/15`` falls
    in the first of 15 bins and a confidence of 1 in the last.

    Args:
        scores: ``[N, C]`` logits (``from_logits=True``) or probabilities (``False``).
        labels: ``[N]`` integer class indices in ``[0, C)``.
        n_bins: number of equal-width bins (>= 1), 15 by default as in the paper.
    """
    n_bins = _check_num_bins(n_bins)
    probs = probabilities(scores, from_logits)
    labels = class_labels(labels, *probs.shape)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # side="left": edges[b] < conf <= edges[b + 1]  ->  index b + 1
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, correct_sum / count, np.nan)
    ece_value = float(np.abs(correct_sum - conf_sum).sum() / confidence.shape[0])
    return ReliabilityDiagram(
        bin_edges=edges, confidence=mean_conf, accuracy=mean_acc, count=count.astype(np.int64), ece=ece_value
    )


def ece(scores: Any, labels: Any, *, n_bins: int = DEFAULT_NUM_BINS, from_logits: bool = False) -> float:
    """Expected calibration error of top-label confidence, in ``[0, 1]``.

    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` over ``n_bins`` equal-width bins
    ``(lo, hi]`` of confidence (see :func:`reliability_diagram`). Multiply by 100 for
    the percentages some papers print.

    Args:
        scores: ``[N, C]`` logits (``from_logits=True``) or probabilities (``False``).
        labels: ``[N]`` integer class indices in ``[0, C)``.
        n_bins: number of equal-width bins (>= 1), 15 by default.
    """
    return reliability_diagram(scores, labels, n_bins=n_bins, from_logits=from_logits).ece
