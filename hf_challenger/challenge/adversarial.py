"""Perturbation baselines of the paper's Figure 3: FGSM and PGD adversarial training."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Edit = Callable[[Tensor], Tensor]


def adversarial_delta(
    loss_of: Callable[[Edit], Tensor],
    allowed_of: Callable[[torch.Size, torch.device], Tensor | None],
    *,
    epsilon: float,
    steps: int,
    step_size: float,
    random_start: bool,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """L-inf attack on the attributed tensor ``t`` ``[R, *F]`` of the challenged rows.

    FGSM is ``steps=1, step_size=epsilon, random_start=False``: ``delta = epsilon * sign(grad)``.
    PGD (Madry et al.) starts from ``delta ~ U(-epsilon, epsilon)`` and takes ``steps`` steps
    ``delta <- clip(delta + step_size * sign(grad), -epsilon, epsilon)``. Features outside
    ``allowed`` keep ``delta = 0`` throughout.

    Args:
        loss_of: runs the model with ``t`` replaced by ``edit(t)`` and returns the scalar loss; the
            caller decides mode (eval), precision (fp32) and that no parameter gradient is stored.
        allowed_of: maps ``(t.shape, t.device)`` to a bool mask of ``t``'s shape (``None``: all allowed).
        epsilon: radius (> 0). steps: iterations (>= 1). step_size: size of one step (> 0).
        random_start: start from a uniform point of the ball instead of 0.
        generator: randomness of the start (on ``t``'s device).

    Returns:
        ``(delta, allowed)``, both ``[R, *F]``: the detached perturbation and the bool mask.
    """
    state: dict[str, Tensor] = {}

    def edit(t: Tensor) -> Tensor:
        if "delta" not in state:
            allowed = allowed_of(t.shape, t.device)
            state["allowed"] = torch.ones(t.shape, dtype=torch.bool, device=t.device) if allowed is None else allowed
            start = torch.zeros(t.shape, dtype=t.dtype, device=t.device)
            if random_start:
                start = (torch.rand(t.shape, generator=generator, device=t.device) * 2 - 1).to(t.dtype) * epsilon
                start = torch.where(state["allowed"], start, torch.zeros_like(start))
            state["delta"] = start.requires_grad_()
        return t.detach() + state["delta"]

    for _ in range(steps):
        loss = loss_of(edit)
        if "delta" not in state:
            raise RuntimeError("the attributed tensor was not seen during the attack's forward pass")
        (grad,) = torch.autograd.grad(loss, state["delta"])
        stepped = (state["delta"].detach() + step_size * grad.sign()).clamp(-epsilon, epsilon)
        state["delta"] = torch.where(state["allowed"], stepped, torch.zeros_like(stepped)).requires_grad_()
    return state["delta"].detach(), state["allowed"]
