"""Label checks and the classification loss shared by the models in this package.

The loss follows ``config.problem_type``:

- ``None`` or ``"single_label_classification"``: cross-entropy. ``labels`` is an integer
  tensor ``[B]`` of class indices in ``[0, num_labels)``.
- ``"multi_label_classification"``: binary cross-entropy with logits, averaged over
  samples and classes. ``labels`` is a tensor ``[B, num_labels]`` of targets in
  ``[0, 1]`` (multi-hot, or soft targets); any real, integer or bool dtype is accepted
  and cast to the logits' dtype.

Nothing is inferred from the labels: a multi-hot float tensor given to a single-label
model is an error that says to set ``problem_type``, not a silent switch of loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import MULTI_LABEL, check_problem_type


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, problem_type: str | None
) -> torch.Tensor:
    """Mean loss of ``logits`` ``[B, C]`` against ``labels`` (see the module docstring).

    Raises:
        ValueError: when ``labels`` has the wrong shape, dtype or values for ``problem_type``;
            the message gives what was received and what is allowed.
    """
    check_problem_type(problem_type)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    batch, num_labels = logits.shape
    if problem_type == MULTI_LABEL:
        return _multi_label_loss(logits, labels, batch, num_labels)
    return _single_label_loss(logits, labels, batch, num_labels)


def _single_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, batch: int, num_labels: int
) -> torch.Tensor:
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"single-label classification needs integer class indices as labels, got dtype "
            f"{labels.dtype} with shape {tuple(labels.shape)}; for multi-hot targets set "
            f"config.problem_type={MULTI_LABEL!r}"
        )
    if labels.shape != (batch,):
        raise ValueError(
            f"labels must have shape [batch]=({batch},) for single-label classification, "
            f"got {tuple(labels.shape)}"
        )
    if batch > 0:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_labels:
            bad = low if low < 0 else high
            raise ValueError(
                f"label {bad} is out of range: labels must be class indices in [0, {num_labels - 1}] "
                f"(num_labels={num_labels})"
            )
    return F.cross_entropy(logits, labels.long())


def _multi_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, batch: int, num_labels: int
) -> torch.Tensor:
    if labels.shape != (batch, num_labels):
        raise ValueError(
            f"labels must have shape [batch, num_labels]=({batch}, {num_labels}) for multi-label "
            f"classification, got {tuple(labels.shape)}"
        )
    if labels.is_complex():
        raise ValueError(f"labels must be real-valued targets in [0, 1], got dtype {labels.dtype}")
    targets = labels.to(logits.dtype)
    if targets.numel() > 0:
        low, high = float(targets.min()), float(targets.max())
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise ValueError(
                f"multi-label targets must lie in [0, 1], got values from {low} to {high}"
            )
    return F.binary_cross_entropy_with_logits(logits, targets)
