"""Steps 5-6 of Challenger: change the selected features of the challenged rows.

Units of alpha and beta (``perturbation_units``): ``"absolute"`` shifts by alpha and beta in the
units of the attributed tensor; ``"std"`` multiplies them by :func:`candidate_std` of the clean
challenged rows, estimated per micro-batch when the edit is applied (see there for why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor


def challenge_shift(n_a: int, n_b: int, alpha: float, beta: float, like: Tensor) -> Tensor:
    """Per-row shift ``[n_a + n_b, 1, ..., 1]``: ``-alpha`` for challenge A, ``+beta`` for B.

    Shaped to broadcast over rows like ``like`` (``[R, *F]``), in ``like``'s dtype and device.
    """
    values = torch.cat(
        [
            torch.full((n_a,), -float(alpha), dtype=like.dtype, device=like.device),
            torch.full((n_b,), float(beta), dtype=like.dtype, device=like.device),
        ]
    )
    return values.reshape((n_a + n_b,) + (1,) * (like.dim() - 1))


def candidate_std(head: Tensor, candidates: Tensor | None) -> Tensor:
    """Standard deviation of the values of ``head`` on its candidate features, pooled over rows.

    The root mean squared deviation from the mean (no ``n - 1`` correction) of every value
    ``head[r, f]`` with ``candidates[r, f]`` true, taken over the rows and all feature dimensions
    together: one number for the micro-batch. Computed in float32 (float64 for float64 input),
    detached, on ``head``'s device, without a host sync; 0 when no feature is a candidate.

    Why per micro-batch over the challenged rows: the attributed tensor of a text model is the
    embedding output, which moves as the embeddings train, so a training-set estimate made once
    goes stale, and a running estimate would be state to checkpoint and to keep equal across
    processes. The clean challenged rows are what is perturbed, they are at hand when the edit is
    applied (also for a hooked module's output, which exists only inside the forward), and their
    candidates (padding and ``feature_mask`` excluded) number rows x features, thousands of values
    for any real input, so the estimate is stable. Each process estimates from its own rows.

    Args:
        head: the clean challenged rows ``[R, *F]``.
        candidates: bool ``[R, *F]`` (``None``: every feature).

    Returns:
        0-d tensor.
    """
    dtype = torch.promote_types(head.dtype, torch.float32)
    values = head.detach().to(dtype)
    if candidates is None:
        return values.std(correction=0)
    weight = candidates.to(dtype)
    count = weight.sum().clamp(min=1.0)
    mean = (values * weight).sum() / count
    return (((values - mean) * weight).square().sum() / count).sqrt()


@dataclass
class RowEdit:
    """An additive change of the first ``rows`` rows of a tensor, on ``mask`` only.

    ``apply(x)`` returns ``cat([where(mask, x[:rows] + shift, x[:rows]), x[rows:]])``: the masked
    features of the edited rows move by exactly ``shift``; every other value, including the rows
    after ``rows``, is bit-identical to ``x``. Gradients flow to ``x`` as through an addition.
    With ``units="std"`` the shift is first multiplied by ``candidate_std(x[:rows], candidates)``
    (a constant: no gradient flows through the estimate).

    Attributes:
        rows: number of leading rows edited (``R``).
        shift: broadcastable to ``[R, *F]`` (per-row scalars, or a full tensor as for FGSM/PGD).
        mask: bool ``[R, *F]``.
        units: ``"absolute"`` or ``"std"``.
        candidates: bool ``[R, *F]``, the features the std is estimated over (``None``: all).
    """

    rows: int
    shift: Tensor
    mask: Tensor
    units: Literal["absolute", "std"] = "absolute"
    candidates: Tensor | None = None

    def apply(self, x: Tensor) -> Tensor:
        """Edit ``x`` of shape ``[B, *F]`` with ``B >= rows``; see the class docstring."""
        if x.shape[0] < self.rows or tuple(x.shape[1:]) != tuple(self.mask.shape[1:]):
            raise ValueError(
                f"cannot edit a tensor of shape {tuple(x.shape)} with a mask for {self.rows} rows of "
                f"shape {tuple(self.mask.shape[1:])}"
            )
        head = x[: self.rows]
        shift = self.shift
        if self.units == "std":
            shift = shift * candidate_std(head, self.candidates)
        edited = torch.where(self.mask, head + shift.to(head.dtype), head)
        if x.shape[0] == self.rows:
            return edited
        return torch.cat([edited, x[self.rows :]], dim=0)

    def changed_share(self) -> Tensor:
        """Share of the edited rows' features that change (0-d float tensor, no host sync)."""
        return self.mask.float().mean()
