"""(c) Products and quotients of activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..errors import UnsupportedLayerError
from ..gradients import scaled_gradient
from .families import PRODUCT_CALLS

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def product(mode: RuleMode, func: Callable, operands: list[Any], **kwargs: Any) -> Any:
    """``func(*operands)`` with the attention rule applied to its activation operands.

    The uniform rule gives each of ``n`` activation operands ``1/n`` of its gradient; as every
    operand's gradient is linear in the product's, that is the product's gradient scaled by ``1/n``
    (one pass over the output). ``"cp"`` first holds gates (outputs of activation rules) constant.
    """
    active = [i for i, value in enumerate(operands) if mode.is_activation(value)]
    if len(active) >= 2 and mode.attention_rule == "cp":
        gates = [i for i in active if id(operands[i]) in mode.gates]
        if gates and len(gates) < len(active):
            operands = [v.detach() if i in gates else v for i, v in enumerate(operands)]
            active = [i for i in active if i not in gates]
    out = func(*operands, **kwargs)
    return scaled_gradient(out, 1.0 / len(active)) if len(active) >= 2 else out


def handle_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    if func is torch.einsum or getattr(func, "__name__", "") == "einsum":
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        return product(mode, lambda *ops, **kw: func(equation, *ops, **kw), operands, **kwargs)
    return product(mode, func, list(args), **kwargs)


def handle_in_place_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    if sum(mode.is_activation(a) for a in args) >= 2:
        raise UnsupportedLayerError(
            f"an in-place product of two activations ({func.__name__}) in {mode.scope.where()} cannot take the "
            "attention rule; write it out of place (a = a * b)"
        )
    return func(*args, **kwargs)


def handle_division(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """Division by a constant is linear; inside a normalisation module the divisor is held constant."""
    reverse = func.__name__ == "__rtruediv__"
    position = 0 if reverse else 1
    denominator = args[position] if len(args) > position else kwargs.get("other")
    if not mode.is_activation(denominator):
        return func(*args, **kwargs)
    if mode.scope.norm:
        args = tuple(a.detach() if i == position else a for i, a in enumerate(args))
        return func(*args, **kwargs)
    if mode.unknown == "gradient":
        return func(*args, **kwargs)
    raise UnsupportedLayerError(
        f"EpsilonLRP has no rule for dividing by an activation ({func.__name__}) in {mode.scope.where()}; build "
        "the engine with unknown_layers='gradient' to let relevance flow as the gradient"
    )


HANDLERS = {
    **dict.fromkeys(PRODUCT_CALLS, handle_product),
    "mul_": handle_in_place_product,
    "__imul__": handle_in_place_product,
    **dict.fromkeys("__truediv__ __rtruediv__ div true_divide divide".split(), handle_division),
}
