"""Macro ROC AUC for multi-label classification, with a bootstrap confidence interval.

Scores may be logits or sigmoid probabilities: ROC AUC depends only on the ranking of
the scores within each class, which a sigmoid does not change. Per class the AUC is the
Mann-Whitney statistic with ties counted one half, which equals scikit-learn's
``roc_auc_score``; the macro AUC is its unweighted mean over classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import multi_hot_labels, scores_2d

# Elements of a [resamples, N, C] block processed at once during the bootstrap.
_BLOCK_ELEMENTS = 2_000_000
# The bootstrap gives up when fewer than 1 in this many resamples is usable.
_MAX_DRAWS_PER_RESAMPLE = 100


class _SortedScores:
    """Per-class sort of ``scores [N, C]`` with tie groups, shared by all resamples.

    A resample is represented by row multiplicities ``weights [B, N]`` (how often each
    row was drawn), so the scores are sorted once instead of once per resample.
    """

    def __init__(self, scores: np.ndarray, labels: np.ndarray) -> None:
        num_samples = scores.shape[0]
        self.order = np.argsort(scores, axis=0, kind="stable")  # [N, C]
        sorted_scores = np.take_along_axis(scores, self.order, axis=0)
        self.positive = np.take_along_axis(labels, self.order, axis=0).astype(np.float64)  # [N, C]
        # first and last sorted position of each element's group of equal scores
        new_group = np.ones_like(sorted_scores, dtype=bool)
        new_group[1:] = sorted_scores[1:] != sorted_scores[:-1]
        positions = np.arange(num_samples)[:, None]
        self.group_start = np.maximum.accumulate(np.where(new_group, positions, 0), axis=0)
        last_in_group = np.ones_like(new_group)
        last_in_group[:-1] = new_group[1:]
        flipped = np.where(last_in_group, positions, num_samples - 1)[::-1]
        self.group_end = np.minimum.accumulate(flipped, axis=0)[::-1]

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """Per-class ROC AUC of resamples given by ``weights [B, N]``; returns ``[B, C]``.

        Mann-Whitney with ties counted one half: ``sum_{i pos, j neg} w_i w_j
        ([s_j < s_i] + [s_j == s_i] / 2) / (P * Q)``, ``P``/``Q`` the weighted positive
        and negative counts (each must be > 0).
        """
        w = weights[:, self.order]  # [B, N, C]: weights in each class's sorted order
        w_pos = w * self.positive
        w_neg = w - w_pos
        cum_neg = np.cumsum(w_neg, axis=1)
        before_group = np.take_along_axis(cum_neg, self.group_start[None] - 1, axis=1)
        before_group[:, self.group_start == 0] = 0.0
        through_group = np.take_along_axis(cum_neg, self.group_end[None], axis=1)
        pairs = (w_pos * 0.5 * (before_group + through_group)).sum(axis=1)
        return pairs / (w_pos.sum(axis=1) * cum_neg[:, -1])


def _validated(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = scores_2d(scores, "scores", min_classes=1)
    labels = multi_hot_labels(labels, scores.shape)
    num_pos = labels.sum(axis=0)
    degenerate = np.flatnonzero((num_pos == 0) | (num_pos == labels.shape[0]))
    if degenerate.size:
        detail = ", ".join(f"class {c}: {num_pos[c]} of {labels.shape[0]} positive" for c in degenerate)
        raise ValueError(
            "ROC AUC needs at least one positive and one negative sample per class; "
            f"{degenerate.size} class(es) have not: {detail}"
        )
    return scores, labels


def macro_auc(scores: Any, labels: Any) -> float:
    """Macro-averaged ROC AUC over classes.

    Args:
        scores: ``[N, C]`` real-valued scores (logits or probabilities).
        labels: ``[N, C]`` multi-hot labels (0/1); every class needs a positive and a
            negative sample.
    """
    scores, labels = _validated(scores, labels)
    ones = np.ones((1, scores.shape[0]))
    return float(_SortedScores(scores, labels).auc(ones).mean())


@dataclass(frozen=True)
class AUCInterval:
    """Macro AUC with a percentile bootstrap interval.

    Attributes:
        auc: point estimate on the full data.
        lower: ``(1 - confidence) / 2`` percentile of the bootstrap distribution.
        upper: ``(1 + confidence) / 2`` percentile of the bootstrap distribution.
        confidence: the interval's nominal coverage, e.g. 0.90.
        bootstrap_aucs: ``[n_resamples]`` macro AUC of each accepted resample.
    """

    auc: float
    lower: float
    upper: float
    confidence: float
    bootstrap_aucs: np.ndarray


def _check_bootstrap_args(n_resamples: Any, confidence: Any) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an integer >= 1, got {n_resamples!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")


def macro_auc_ci(
    scores: Any,
    labels: Any,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.90,
    seed: int = 0,
) -> AUCInterval:
    """Macro ROC AUC with a percentile bootstrap confidence interval.

    Rows (samples) are resampled with replacement, ``N`` per resample. A resample in
    which some class has no positive sample has no defined AUC; it is discarded and
    redrawn, as the PTB-XL benchmark (Strodthoff et al., 2020) does, and so is one in
    which some class has no negative sample (equally undefined), until
    ``n_resamples`` resamples are accepted. The point estimate is the macro AUC of the
    full data. The default ``confidence=0.90`` gives the 5th and 95th percentiles that
    the benchmark reports (it uses 100 resamples). Deterministic for a given ``seed``.

    Args:
        scores: ``[N, C]`` real-valued scores (logits or probabilities).
        labels: ``[N, C]`` multi-hot labels (0/1); every class needs a positive and a
            negative sample.
        n_resamples: number of accepted bootstrap resamples (>= 1).
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the numpy generator drawing the resamples.

    Raises:
        ValueError: on bad arguments, or when fewer than 1 in 100 resamples can be
            accepted (some class has too few positives or negatives to bootstrap).
    """
    _check_bootstrap_args(n_resamples, confidence)
    scores, labels = _validated(scores, labels)
    num_samples, num_classes = labels.shape
    sorted_scores = _SortedScores(scores, labels)
    point = float(sorted_scores.auc(np.ones((1, num_samples))).mean())
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // (num_samples * num_classes))
    max_draws = _MAX_DRAWS_PER_RESAMPLE * n_resamples
    label_matrix = labels.astype(np.float64)
    accepted: list[np.ndarray] = []
    num_accepted = 0
    num_drawn = 0
    while num_accepted < n_resamples:
        if num_drawn >= max_draws:
            num_pos = labels.sum(axis=0)
            rarest = np.argsort(np.minimum(num_pos, num_samples - num_pos))[:5]
            detail = ", ".join(f"class {c}: {num_pos[c]} positive of {num_samples}" for c in rarest)
            raise ValueError(
                f"only {num_accepted} of {num_drawn} bootstrap resamples had a positive and a negative "
                f"sample in every class (needed {n_resamples}); the rarest classes are {detail}"
            )
        size = min(block, n_resamples - num_accepted)
        rows = rng.integers(0, num_samples, size=(size, num_samples))  # N rows drawn with replacement
        num_drawn += size
        offsets = (np.arange(size) * num_samples)[:, None]
        weights = np.bincount((rows + offsets).ravel(), minlength=size * num_samples).reshape(size, num_samples)
        num_pos = weights @ label_matrix  # [size, C]
        usable = ((num_pos > 0) & (num_pos < num_samples)).all(axis=1)
        if usable.any():
            accepted.append(sorted_scores.auc(weights[usable].astype(np.float64)).mean(axis=1))
            num_accepted += int(usable.sum())
    aucs = np.concatenate(accepted)
    tail = 100.0 * (1.0 - confidence) / 2.0
    lower, upper = np.percentile(aucs, [tail, 100.0 - tail])
    return AUCInterval(
        auc=point, lower=float(lower), upper=float(upper), confidence=float(confidence), bootstrap_aucs=aucs
    )
