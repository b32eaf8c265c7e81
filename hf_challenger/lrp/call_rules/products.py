"""(c) Products and quotients of two activations.

A product with one activation operand is linear in it (a weight, a mask, a constant scale): it keeps
its ordinary gradient. With two or more activation operands:

- ``"attnlrp"``: each of ``n`` operands receives ``1/n`` of its ordinary gradient, so relevance splits
  evenly (``n = 2``: half and half);
- ``"cp"``: the *gate* is held constant and the other operand takes all the relevance. The gate of
  ``a * b`` is the operand produced by an element-wise activation rule (``act(gate) * up`` of a gated
  MLP, ``sigmoid`` of GLU); attention weights and routing weights are softmax outputs, constants in
  ``"cp"`` already. With no gate among them (``q @ k^T`` with ``"cp"``'s softmax, ...), operands split
  as in ``"attnlrp"``.

A quotient ``a / b`` of two activations is ``a * (1 / b)`` with the reciprocal under the identity rule:
``"attnlrp"`` gives half the relevance to ``a`` and half to ``b``; ``"cp"`` holds the divisor ``b``
constant (all to ``a``). ``c / b`` with a constant ``c`` is an element-wise function of ``b`` (identity
rule); ``a / c`` is linear. Inside a normalisation module the divisor is a statistic: constant.
A matrix quotient ``A^-1 B`` (``linalg.solve``, ``linalg.solve_triangular``: gated delta-rule
attention) holds the matrix divisor ``A`` constant in both conventions (a matrix inverse has no
element-wise identity rule), so it is linear in ``B``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..gradients import scaled_gradient
from .elementwise import identity_of, unsupported
from .families import PRODUCT_CALLS

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def product(mode: RuleMode, func: Callable, operands: list[Any], **kwargs: Any) -> Any:
    """``func(*operands, **kwargs)`` with the attention rule applied to its activation operands.

    Every operand's gradient is linear in the product's, so giving each of ``n`` activation operands
    ``1/n`` of its gradient is the product's gradient scaled by ``1/n`` (one pass over the output).
    ``"cp"`` first holds gates (outputs of activation rules) constant.
    """
    active = [i for i, value in enumerate(operands) if mode.is_activation(value)]
    if len(active) >= 2 and mode.attention_rule == "cp":
        gates = [i for i in active if id(operands[i]) in mode.gates]
        if gates and len(gates) < len(active):
            operands = [v.detach() if i in gates else v for i, v in enumerate(operands)]
            active = [i for i in active if i not in gates]
    out = func(*operands, **kwargs)
    if len(active) < 2:
        return out
    if len(operands) == 2 and operands[0] is operands[1] and func in _ELEMENTWISE_PRODUCTS:
        mode.mark_square(out)
    return scaled_gradient(out, 1.0 / len(active))


_ELEMENTWISE_PRODUCTS = {torch.mul, Tensor.mul, Tensor.__mul__, Tensor.__rmul__, torch.multiply}


def handle_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``mul``/``*``, ``matmul``/``@``, ``bmm``, ``mm``, ``outer``, ``einsum``, ``_grouped_mm`` ...: all
    tensor operands are factors (``_grouped_mm``'s ``offs`` is an integer tensor, never an activation)."""
    if getattr(func, "__name__", "") == "einsum":
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        return product(mode, lambda *ops, **kw: func(equation, *ops, **kw), operands, **kwargs)
    return product(mode, func, list(args), **kwargs)


# ``beta * input + alpha * (t1 (x) t2)`` calls and the product of their two factors.
_ADDED_PRODUCTS = {
    "baddbmm": torch.bmm,
    "addbmm": lambda a, b: torch.bmm(a, b).sum(0),
    "addmm": torch.mm,
    "addmv": torch.mv,
    "addr": torch.outer,
    "addcmul": torch.mul,
    "addcdiv": None,  # a quotient
}


_FACTOR_NAMES = {
    "baddbmm": ("input", "batch1", "batch2"),
    "addbmm": ("input", "batch1", "batch2"),
    "addmm": ("input", "mat1", "mat2"),
    "addmv": ("input", "mat", "vec"),
    "addr": ("input", "vec1", "vec2"),
}


def handle_added_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``beta * input + alpha * (t1 (x) t2)`` (``baddbmm``, ``addmm``, ``addcmul`` ...): the added term is
    linear; the product (or, for ``addcdiv``, the quotient ``t1 / t2``) takes the rule of (c). With
    fewer than two activation factors the call is linear and runs as it is."""
    name = func.__name__
    names = _FACTOR_NAMES.get(name, ("input", "tensor1", "tensor2"))
    bound = {**dict(zip(names, args)), **kwargs}
    first, second = bound[names[1]], bound[names[2]]
    if not (mode.is_activation(first) and mode.is_activation(second)):
        return func(*args, **kwargs)
    if name == "addcdiv":
        term = quotient(mode, first, second) * bound.get("value", 1)
        return bound["input"] + term
    term = product(mode, _ADDED_PRODUCTS[name], [first, second])
    scale_input, scale_term = bound.get("beta", 1), bound.get("alpha", bound.get("value", 1))
    added = bound["input"] if scale_input == 1 else bound["input"] * scale_input
    return added + (term if scale_term == 1 else term * scale_term)


def quotient(mode: RuleMode, numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` of two activations (see the module docstring)."""
    if mode.attention_rule == "cp":
        return numerator / denominator.detach()
    inverse = identity_of(mode, ("reciprocal",), torch.reciprocal, denominator)
    return product(mode, torch.mul, [numerator, inverse])


def handle_division(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``a / b``, ``div``, ``true_divide``, ``c / b`` (``__rdiv__``); see the module docstring."""
    if func.__name__ == "__rdiv__":  # Tensor.__rtruediv__(b, c) = c / b
        denominator, numerator = args[0], args[1]
    else:
        numerator = args[0]
        denominator = args[1] if len(args) > 1 else kwargs.get("other")
    if not mode.is_activation(denominator) or kwargs.get("rounding_mode") is not None:
        return func(*args, **kwargs)
    if mode.scope.norm:
        return numerator / denominator.detach()
    if not mode.is_activation(numerator):
        return identity_of(mode, ("divide", _constant_key(numerator)), lambda z: numerator / z, denominator)
    return quotient(mode, numerator, denominator)


def handle_solve(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``linalg.solve(A, B)``, ``linalg.solve_triangular(A, B)``: ``A`` held constant."""
    divisor, *rest = args
    return func(divisor.detach() if isinstance(divisor, Tensor) else divisor, *rest, **kwargs)


def handle_glu(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``F.glu(x, dim)`` = ``a * sigmoid(b)`` over the two halves of ``x`` along ``dim``: the sigmoid
    half under the identity rule is the gate, then the product rule."""
    x = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    a, b = (mode.follow(half, x) for half in x.chunk(2, dim))
    return product(mode, torch.mul, [a, identity_of(mode, ("sigmoid",), torch.sigmoid, b)])


def handle_pow(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``x ** c`` and ``c ** x``: element-wise (identity rule); ``x ** y`` of two activations: no rule."""
    base, exponent = args[0], args[1] if len(args) > 1 else kwargs.get("exponent")
    if mode.is_activation(base) and mode.is_activation(exponent):
        return unsupported(mode, func, args, kwargs, "a power of two activations")
    if mode.is_activation(base):
        out = identity_of(mode, ("pow", _constant_key(exponent)), lambda z: func(z, exponent), base)
        if isinstance(exponent, (int, float)) and exponent == 2:
            mode.mark_square(out)
        return out
    if func.__name__ == "__rpow__":  # Tensor.__rpow__(x, c) = c ** x
        return identity_of(mode, ("rpow", _constant_key(exponent)), lambda z: func(z, exponent), base)
    return identity_of(mode, ("pow-base", _constant_key(base)), lambda z: func(base, z), exponent)


def _constant_key(value: Any) -> Any:
    """A cache key for a constant operand: numbers by value; tensors are not cached (``None``)."""
    return value if isinstance(value, (int, float, bool)) else None


def handle_in_place(mode: RuleMode, func: Callable, args: tuple, kwargs: dict, base: str) -> Any:
    """(f) The in-place form of a call with a handler (``base`` names its out-of-place form): that rule
    applied to a copy of the target's old value (the backward may need the old value), written back
    into the target. A product or quotient that is linear in its activation (``x *= mask``,
    ``x /= c``) runs in place as it is."""
    target = args[0]
    active = sum(mode.is_activation(value) for value in args)
    if base in PRODUCT_CALLS and active < 2:
        return func(*args, **kwargs)
    if base in _QUOTIENTS and not mode.is_activation(args[1] if len(args) > 1 else kwargs.get("other")):
        return func(*args, **kwargs)
    from . import HANDLERS  # the registry, which holds this module's handlers too

    old = mode.follow(target.clone(), target)
    result = HANDLERS[base](mode, getattr(torch.Tensor, base), (old, *args[1:]), kwargs)
    return target.copy_(result)


_QUOTIENTS = frozenset("__truediv__ div true_divide divide".split())

HANDLERS = {
    **dict.fromkeys(PRODUCT_CALLS, handle_product),
    **dict.fromkeys(_ADDED_PRODUCTS, handle_added_product),
    **dict.fromkeys(_QUOTIENTS | {"__rdiv__"}, handle_division),
    **dict.fromkeys("pow __rpow__ float_power".split(), handle_pow),
    "glu": handle_glu,
    "linalg_solve": handle_solve,
    "linalg_solve_triangular": handle_solve,
}
