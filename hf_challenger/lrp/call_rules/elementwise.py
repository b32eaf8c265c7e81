"""(b) Element-wise functions of one activation: the identity rule, and (g) the error for calls with no rule.

``y = f(x)`` element-wise passes relevance unchanged (``R_x = R_y``), i.e. ``g_x = g_y * f(x) / x``; at
``x = 0`` the factor is ``f'(0)`` when ``f(0) = 0`` and ``f(0) / eps`` otherwise, and 0 where either is
not finite (``log``, ``1/x``, ``sqrt`` at 0), so the rule never produces NaN or inf. Other tensor
arguments of the call (an exponent, a constant numerator) must be constants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ..errors import UnsupportedLayerError
from .families import NONLINEAR_CALLS

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def identity_of(mode: RuleMode, key: tuple, function: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``function(x)`` (``x`` an activation, any shape) under the identity rule; ``key`` identifies the
    function for the cache of ``(f(0), f'(0))`` (an item ``None`` turns the cache off)."""
    y = function(x.detach())
    return mode.identity(key, function, x, y)


def handle_elementwise(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``exp``, ``log``, ``sqrt``, ``erf``, ``softplus``, ``abs`` ...: the identity rule towards the one
    activation argument (the first, for activations called as ``f(x, *constants)``)."""
    positions = [i for i, value in enumerate(args) if mode.is_activation(value)]
    if len(positions) != 1 or any(mode.is_activation(value) for value in kwargs.values()):
        return unsupported(mode, func, args, kwargs, "an element-wise function of two activations")
    at = positions[0]
    before, after = args[:at], args[at + 1 :]

    def function(z: Tensor) -> Tensor:
        return func(*before, z, *after, **kwargs)

    constants = (*before, *after, *sorted(kwargs.items()))
    cacheable = all(isinstance(c, (int, float, bool, str, type(None), tuple)) for c in constants)
    key = (func, at, repr(constants)) if cacheable else (func, None)
    out = identity_of(mode, key, function, args[at])
    if func.__name__ == "square":
        mode.mark_square(out)
    return out


def unsupported(mode: RuleMode, func: Callable, args: tuple, kwargs: dict, what: str = "") -> Any:
    """(g) A call that fits no rule: an :class:`UnsupportedLayerError` naming the module and the call,
    or, with ``unknown_layers="gradient"``, the call with its ordinary gradient."""
    if mode.unknown == "gradient":
        return func(*args, **kwargs)
    name = getattr(func, "__name__", "") or repr(func)
    detail = f" ({what})" if what else ""
    raise UnsupportedLayerError(
        f"EpsilonLRP has no rule for the call '{name}'{detail} on an activation in {mode.scope.where()}. "
        "Rules exist by what a call computes (README, 'Rules by call'): linear and structural calls, "
        "element-wise functions of one activation, products and quotients of two, normalising statistics, "
        "softmax and attention. To let relevance flow through this call as the gradient, build the engine "
        "with EpsilonLRP(model, unknown_layers='gradient') (training argument challenger_unknown_layers), "
        "or attribute at a module above it with at=..."
    )


ELEMENTWISE_CALLS = NONLINEAR_CALLS | frozenset(
    """
    exp exp2 expm1 log log1p log2 log10 sqrt rsqrt reciprocal square abs sin cos tan atan asinh sinh cosh
    erfc erfinv softshrink hardshrink tanhshrink logit sinc
    """.split()
)

HANDLERS = dict.fromkeys(ELEMENTWISE_CALLS, handle_elementwise)
