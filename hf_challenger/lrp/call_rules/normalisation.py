"""(d) Normalisation: the normalising statistic held constant.

``F.layer_norm``/``F.rms_norm``/``F.group_norm`` keep their centring and affine part and hold the
standard deviation (or RMS) constant. Statistics computed by hand are constants wherever they occur,
whatever the class of the module computing them (PatchTST's scalers, ConvNeXtV2's global response
norm, Llama-style RMSNorms): ``var``/``std``/``var_mean``/``std_mean``, every norm (``norm``,
``linalg.vector_norm``, ``linalg.norm``), second moments (a ``sum``/``mean`` of a square ``x ** 2``,
``x * x``, ``square(x)``), and ``F.normalize``'s divisor. Inside a module whose class name ends in
``Norm`` also ``sqrt``/``rsqrt``/``reciprocal`` and fractional powers are. Means of activations stay
linear (centring keeps its gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from ..gradients import group_norm_constant_std, layer_norm_constant_std, rms_norm_constant_rms

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def handle_layer_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "normalized_shape", "weight", "bias", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return layer_norm_constant_std(
        bound["input"], bound["normalized_shape"], bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
    )


def handle_rms_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "normalized_shape", "weight", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return rms_norm_constant_rms(bound["input"], bound["normalized_shape"], bound.get("weight"), bound.get("eps"))


def handle_group_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "num_groups", "weight", "bias", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return group_norm_constant_std(
        bound["input"], bound["num_groups"], bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
    )


def is_fractional_power(name: str, args: tuple) -> bool:
    """Whether the call is ``pow``/``**`` by a constant exponent that is not a positive integer."""
    if name not in ("pow", "__pow__", "float_power"):
        return False
    exponent = args[1] if len(args) > 1 else None
    return isinstance(exponent, (int, float)) and not (float(exponent).is_integer() and exponent >= 1)


def handle_statistic(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``var``, ``std``, norms ...: the value as a constant."""
    return detached(func(*args, **kwargs))


def handle_reduction(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``sum``/``mean``/``nansum``: linear, except of a square (a second moment: a constant)."""
    out = func(*args, **kwargs)
    return detached(out) if args and mode.is_square(args[0]) else out


def handle_normalize(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``F.normalize(x, p, dim, eps)`` = ``x / max(||x||_p, eps)`` with the norm held constant."""
    names = ("input", "p", "dim", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    x = bound["input"]
    norm = x.detach().norm(bound.get("p", 2.0), bound.get("dim", 1), keepdim=True)
    return x / norm.clamp_min(bound.get("eps", 1e-12))


def detached(value: Any) -> Any:
    """``value`` (a tensor or a tuple of them) without its graph."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(detached(item) for item in value)
    return value


STATISTICS = frozenset("var std var_mean std_mean norm linalg_vector_norm vector_norm linalg_norm".split())

HANDLERS = {
    "layer_norm": handle_layer_norm,
    "rms_norm": handle_rms_norm,
    "group_norm": handle_group_norm,
    "normalize": handle_normalize,
    **dict.fromkeys(STATISTICS, handle_statistic),
    **dict.fromkeys("sum mean nansum nanmean".split(), handle_reduction),
}
