"""Step 2 of Challenger: per row, a class drawn uniformly from the row's top-K logits (or, with
``target_source="labels"``, the row's own label: :func:`draw_label_targets`)."""

from __future__ import annotations

import torch
from torch import Tensor


def draw_topk_targets(logits: Tensor, top_k: int, generator: torch.Generator | None = None) -> Tensor:
    """Draw one class per row uniformly from that row's ``top_k`` largest logits.

    Works for single-label (softmax) and multi-label (BCE) heads alike: the ranking is by logit.
    Vectorised: one ``topk`` and one ``randint`` for the whole batch, no host sync.

    Args:
        logits: ``[R, C]`` scores.
        top_k: ``K`` in ``[1, C]``.
        generator: source of randomness (on ``logits.device``); ``None`` uses torch's global RNG.

    Returns:
        ``LongTensor [R]`` of class indices.

    Raises:
        ValueError: when ``logits`` is not 2-D or ``top_k`` is outside ``[1, C]``.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape [rows, classes]; got shape {tuple(logits.shape)}")
    num_classes = logits.shape[1]
    if not 1 <= top_k <= num_classes:
        raise ValueError(f"top_k must be in [1, {num_classes}] (the number of classes of this model); got {top_k}")
    candidates = logits.detach().topk(top_k, dim=1).indices
    pick = torch.randint(0, top_k, (logits.shape[0], 1), generator=generator, device=logits.device)
    return candidates.gather(1, pick).squeeze(1)


def draw_label_targets(
    labels: Tensor, logits: Tensor, top_k: int, generator: torch.Generator | None = None
) -> Tensor:
    """One class per row from its labels: the class id of a single-label row (``labels`` ``[R]``), or a
    class drawn uniformly from the positive entries (> 0.5) of a multi-hot row (``labels`` ``[R, C]``);
    a row without a positive label draws from its ``top_k`` logits (:func:`draw_topk_targets`). No host sync.

    Raises:
        ValueError: when ``labels`` is neither ``[R]`` class ids nor ``[R, C]`` like ``logits``.
    """
    if labels.dim() == 1 and not labels.is_floating_point():
        return labels.to(device=logits.device, dtype=torch.long)
    if labels.shape != logits.shape:
        raise ValueError(
            f"target_source='labels' needs labels shaped [rows] (class ids) or [rows, classes] (multi-hot) like the "
            f"logits {tuple(logits.shape)}; got {tuple(labels.shape)} ({labels.dtype})"
        )
    positive = (labels.detach().to(logits.device) > 0.5).float()
    fallback = torch.zeros_like(positive).scatter_(1, draw_topk_targets(logits, top_k, generator)[:, None], 1.0)
    weights = torch.where(positive.sum(dim=1, keepdim=True) > 0, positive, fallback)
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)
