"""Mixup (Zhang et al., 2018) on training batches, for the PTB-XL "with mixup" recipes.

Each training micro-batch draws one ``lam ~ Beta(alpha, alpha)`` and a random pairing
``perm`` of its rows, and replaces inputs and targets by convex combinations::

    x <- lam * x + (1 - lam) * x[perm]        # the float model input, e.g. input_values [B, 12, T]
    y <- lam * y + (1 - lam) * y[perm]        # multi-hot (or soft) float targets [B, C]

so a multi-hot ECG label becomes a soft target in [0, 1] that BCE-with-logits accepts.
``alpha`` sets how far from the originals the mixtures go: small values (0.1-0.4, the
usual range) give ``lam`` near 0 or 1 most of the time. The PTB-XL recipes use
``alpha = 0.2``; the Challenger paper does not state its value, so this is this
library's choice, not the paper's.

Mixup runs in the training step only (evaluation and prediction see clean data), before
Challenger's attribution pass, so Challenger challenges the mixed batch. Randomness comes
from torch's global generator, which ``Trainer`` seeds with ``args.seed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .trainer import ChallengerTrainer


def check_alpha(alpha: Any, name: str = "mixup alpha") -> float:
    """Return ``alpha`` as a float if it is a finite number > 0, else raise naming it as ``name``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (Beta(alpha, alpha)), got {alpha!r}")
    return float(alpha)


def mixup_batch(batch: Mapping[str, Any], alpha: float, input_key: str, label_key: str = "labels") -> dict[str, Any]:
    """Mix the rows of one batch with a shuffled copy of itself.

    Args:
        batch: mapping with ``batch[input_key]`` float ``[B, ...]`` and ``batch[label_key]``
            float ``[B, C]`` (multi-hot or soft targets); other entries are passed on unchanged.
        alpha: Beta distribution parameter (> 0).
        input_key: key of the float model input (e.g. ``"input_values"``).
        label_key: key of the targets.

    Returns:
        A new dict with the mixed input and targets (same shapes and dtypes).

    Raises:
        KeyError: when a key is missing (names the key and the batch's keys).
        ValueError: for integer inputs or labels that are not float ``[B, C]``.
    """
    alpha = check_alpha(alpha)
    for key in (input_key, label_key):
        if key not in batch:
            raise KeyError(f"mixup needs batch[{key!r}]; the batch has {sorted(batch)}")
    inputs, labels = batch[input_key], batch[label_key]
    if not torch.is_floating_point(inputs):
        raise ValueError(f"mixup mixes float inputs; batch[{input_key!r}] has dtype {inputs.dtype}")
    if not torch.is_floating_point(labels) or labels.dim() != 2 or labels.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"mixup needs float targets [batch, num_labels] (multi-hot, multi_label_classification) with the "
            f"input's batch size {inputs.shape[0]}; batch[{label_key!r}] is {labels.dtype} {tuple(labels.shape)}"
        )
    lam = torch.distributions.Beta(alpha, alpha).sample().item()
    perm = torch.randperm(inputs.shape[0]).to(inputs.device)
    mixed = dict(batch)
    mixed[input_key] = lam * inputs + (1.0 - lam) * inputs[perm]
    mixed[label_key] = lam * labels + (1.0 - lam) * labels[perm.to(labels.device)]
    return mixed


class MixupChallengerTrainer(ChallengerTrainer):
    """:class:`~hf_challenger.ChallengerTrainer` that applies :func:`mixup_batch` to every
    training micro-batch before the Challenger step (and to none at evaluation).

    Args:
        mixup_alpha: Beta distribution parameter (> 0).
        mixup_input_key: batch key of the input to mix; default ``model.main_input_name``.
        *args, **kwargs: passed to ``ChallengerTrainer``.
    """

    def __init__(self, *args: Any, mixup_alpha: float, mixup_input_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mixup_alpha = check_alpha(mixup_alpha)
        self.mixup_input_key = mixup_input_key or self.model.main_input_name

    def training_step(self, model: torch.nn.Module, inputs: dict[str, Tensor], *args: Any, **kwargs: Any) -> Tensor:
        return super().training_step(
            model, mixup_batch(inputs, self.mixup_alpha, self.mixup_input_key), *args, **kwargs
        )
