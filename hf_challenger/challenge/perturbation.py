"""Steps 5-6 of Challenger: change the selected features of the challenged rows."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class RowEdit:
    """An additive change of the first ``rows`` rows of a tensor, on ``mask`` only.

    ``apply(x)`` returns ``cat([where(mask, x[:rows] + shift, x[:rows]), x[rows:]])``: the masked
    features of the edited rows move by exactly ``shift``; every other value, including the rows
    after ``rows``, is bit-identical to ``x``. Gradients flow to ``x`` as through an addition.

    Attributes:
        rows: number of leading rows edited (``R``).
        shift: broadcastable to ``[R, *F]`` (per-row scalars, or a full tensor as for FGSM/PGD).
        mask: bool ``[R, *F]``.
    """

    rows: int
    shift: Tensor
    mask: Tensor

    def apply(self, x: Tensor) -> Tensor:
        """Edit ``x`` of shape ``[B, *F]`` with ``B >= rows``; see the class docstring."""
        if x.shape[0] < self.rows or tuple(x.shape[1:]) != tuple(self.mask.shape[1:]):
            raise ValueError(
                f"cannot edit a tensor of shape {tuple(x.shape)} with a mask for {self.rows} rows of "
                f"shape {tuple(self.mask.shape[1:])}"
            )
        head = x[: self.rows]
        edited = torch.where(self.mask, head + self.shift.to(head.dtype), head)
        if x.shape[0] == self.rows:
            return edited
        return torch.cat([edited, x[self.rows :]], dim=0)

    def changed_share(self) -> Tensor:
        """Share of the edited rows' features that change (0-d float tensor, no host sync)."""
        return self.mask.float().mean()
