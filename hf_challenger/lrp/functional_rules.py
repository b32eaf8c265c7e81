"""Rules for the functional calls inside model forwards, applied by a scoped ``TorchFunctionMode``.

Transformers models compute attention, normalisation and activations with functional calls
(``torch.matmul``, ``F.scaled_dot_product_attention``, ``F.layer_norm``, ``F.gelu`` ...) that module
hooks never see. During an attribution pass :class:`RuleMode` is the innermost torch function mode;
it sees every call and applies the rule of its family to calls that touch an *activation* (a tensor
that depends on the attributed tensor: :mod:`~hf_challenger.lrp.activations` follows them from the
attributed tensor call by call; parameters, buffers and what is computed from them alone are
constants):

the rule is chosen by what the call computes, not by its name or module (:mod:`.call_rules`: (a)
linear and structural calls keep their gradient, (b) element-wise functions of one activation take the
identity rule, (c) products and quotients of two activations split relevance (``"attnlrp"``) or hold
the gate or divisor constant (``"cp"``), (d) normalising statistics are constants, (e) softmax and
attention written as one call are decomposed, (f) in-place forms take the rule of their out-of-place
form).

Any other call on an activation is unknown: :class:`UnsupportedLayerError` names the innermost
module (path and type) and the call, unless the engine was built with ``unknown_layers="gradient"``.
Inside a module that has a module rule (Linear, Conv, BatchNorm, activation modules ...) calls pass
through untouched. The mode exists only while a pass runs; nothing in torch is patched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .activations import ActivationSet
from .call_rules import (
    GRADIENT_CALLS,
    HANDLERS,
    IN_PLACE_CALLS,
    RULE_CLASS,
    STATISTIC_CALLS,
    detached,
    handle_in_place,
    is_fractional_power,
    out_of_place,
    unsupported,
)
from .gradients import identity_rule

ATTENTION_RULES = ("attnlrp", "cp")


@dataclass
class Scope:
    """The module stack of one attribution forward, kept by the engine's module hooks."""

    names: list[str] = field(default_factory=list)
    modules: list[nn.Module] = field(default_factory=list)
    opaque: int = 0  # > 0 inside a module that has a module rule: calls pass through
    norm: int = 0  # > 0 inside a normalisation module written out by hand

    def where(self) -> str:
        if not self.modules:
            return "the model's forward"
        return f"module '{self.names[-1] or '<root>'}' of type {type(self.modules[-1]).__name__}"


class RuleMode(TorchFunctionMode):
    """The torch function mode of one attribution pass (see the module docstring).

    Args:
        scope: the module stack, maintained by the engine's module hooks.
        epsilon: the LRP epsilon (stabilises the identity rule at ``x = 0``).
        attention_rule: ``"attnlrp"`` or ``"cp"``.
        unknown: ``"error"`` or ``"gradient"`` for calls with no rule.
    """

    def __init__(
        self,
        scope: Scope,
        epsilon: float,
        attention_rule: str,
        unknown: str,
        origins: dict[tuple, tuple[float, float]],
        activations: ActivationSet,
        upcast: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.scope = scope
        self.epsilon = epsilon
        self.attention_rule = attention_rule
        self.unknown = unknown
        self.activations = activations
        self.upcast = upcast
        self.gates: dict[int, Tensor] = {}  # outputs of activation rules (held constant by "cp")
        self.squares: dict[int, Tensor] = {}  # x ** 2, x * x: their sums and means are statistics
        self.met: set[str] = set()  # the rule classes applied in this pass (call_rules.RULE_CLASS)
        self._origins = origins  # (f(0), f'(0)) per activation, kept by the engine across passes

    def is_activation(self, value: Any) -> bool:
        """Whether ``value`` is a tensor that depends on the attributed tensor (see :mod:`.activations`)."""
        return value in self.activations

    def follow(self, result: Tensor, *sources: Any) -> Tensor:
        """Mark ``result``, computed inside a rule from ``sources``, as an activation if one of them is
        and autograd connects it (``requires_grad``); returns it."""
        if result.requires_grad and any(self.is_activation(source) for source in sources):
            self.activations.add(result)
        return result

    def __torch_function__(self, func: Callable, types: tuple, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        in_place = name in IN_PLACE_CALLS or (name.endswith("_") and not name.startswith("_"))
        if not self.activations.any_in(args, kwargs):
            return func(*args, **kwargs)  # weights, buffers, masks, an engine's own bookkeeping
        if self.upcast is not None:  # half-precision weights meet activations in the compute dtype
            args, kwargs = _upcast(args, self.upcast, keep_first=in_place), _upcast(kwargs, self.upcast)
        out = self._apply_rule(func, name, args, kwargs, in_place)
        if in_place and args and isinstance(args[0], Tensor) and args[0].requires_grad:
            self.activations.add(args[0])
        if self.upcast is not None and not in_place:
            out = _upcast(out, self.upcast)
        self.activations.add_results(out)
        return out

    def _apply_rule(self, func: Callable, name: str, args: tuple, kwargs: dict, in_place: bool) -> Any:
        """``func(*args, **kwargs)`` under the rule of its family (at least one argument is an activation);
        the family's name is added to :attr:`met`."""
        if self.scope.opaque:
            return func(*args, **kwargs)
        if name in GRADIENT_CALLS:
            self.met.add("linear")
            return func(*args, **kwargs)
        if self.scope.norm and (name in STATISTIC_CALLS or is_fractional_power(name, args)):
            self.met.add("statistic")
            return detached(func(*args, **kwargs))
        handler = HANDLERS.get(name)
        if handler is not None:
            self.met.add(RULE_CLASS[name])
            return handler(self, func, args, kwargs)
        if in_place:
            base = out_of_place(name)
            if base in GRADIENT_CALLS:
                self.met.add("linear")
                return func(*args, **kwargs)
            if base in HANDLERS and args and isinstance(args[0], Tensor):
                self.met.update((RULE_CLASS[base], "in-place"))
                return handle_in_place(self, func, args, kwargs, base)
        return unsupported(self, func, args, kwargs)

    # ------------------------------------------------------------------ rules

    def mark_gate(self, tensor: Tensor) -> Tensor:
        """Remember ``tensor`` as the output of an activation rule (a gate for ``"cp"``)."""
        self.gates[id(tensor)] = tensor
        return self.activations.add(tensor)

    def mark_square(self, tensor: Tensor) -> None:
        """Remember ``tensor`` as a square of an activation (its sum or mean is a second moment)."""
        self.squares[id(tensor)] = tensor

    def is_square(self, value: Any) -> bool:
        """Whether ``value`` is a tensor marked by :meth:`mark_square`."""
        return self.squares.get(id(value)) is value

    def origin(self, key: tuple, function: Callable[[Tensor], Tensor], like: Tensor) -> tuple[float, float]:
        """``(f(0), f'(0))`` of an element-wise function, computed once per engine and ``key`` (one host
        read; ``None`` in ``key``: not cached). Each is 0 where it is not a finite number (``log``,
        ``1 / x``, ``sqrt`` at 0) or not one number (a function of tensor constants)."""
        key = (*key, like.dtype)
        values = self._origins.get(key) if None not in key else None
        if values is None:
            zero = torch.zeros((), dtype=like.dtype, device=like.device, requires_grad=True)
            with torch.enable_grad():
                value = function(zero)
                slope = None
                if value.numel() == 1 and value.requires_grad:
                    (slope,) = torch.autograd.grad(value, zero, allow_unused=True)
            values = (_finite(value), _finite(slope))
            if None not in key:
                self._origins[key] = values
        return values

    def identity(
        self, key: tuple, function: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, merged: bool = False
    ) -> Tensor:
        """The identity rule for ``y = function(x)``, marked as a gate (``merged``: see ``identity_rule``)."""
        value_at_zero, slope_at_zero = self.origin(key, function, x)
        return self.mark_gate(identity_rule(x, y, slope_at_zero, value_at_zero, self.epsilon, merged))


def _finite(value: Tensor | None) -> float:
    if value is None or value.numel() != 1:
        return 0.0
    number = float(value.detach())
    return number if math.isfinite(number) else 0.0


def _upcast(value: Any, dtype: torch.dtype, keep_first: bool = False) -> Any:
    """``value`` with its half-precision floating tensors cast to ``dtype`` (through one level of
    tuples, lists and keyword dicts); with ``keep_first`` the first item is left as it is (the target
    of an in-place call)."""
    if isinstance(value, Tensor):
        return value.to(dtype) if value.dtype in (torch.float16, torch.bfloat16) else value
    if isinstance(value, dict):  # keyword arguments; an ``out=`` buffer keeps its dtype
        return {key: item if key == "out" else _upcast(item, dtype) for key, item in value.items()}
    if type(value) in (tuple, list):
        items = [item if keep_first and i == 0 else _upcast(item, dtype) for i, item in enumerate(value)]
        return type(value)(items)
    return value
