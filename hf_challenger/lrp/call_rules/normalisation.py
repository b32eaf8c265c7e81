"""(d) Normalisation: the normalising statistic held constant."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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


HANDLERS = {"layer_norm": handle_layer_norm, "rms_norm": handle_rms_norm, "group_norm": handle_group_norm}
