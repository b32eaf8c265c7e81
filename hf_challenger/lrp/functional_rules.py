"""Rules for the functional calls inside model forwards, applied by a scoped ``TorchFunctionMode``.

Transformers models compute attention, normalisation and activations with functional calls
(``torch.matmul``, ``F.scaled_dot_product_attention``, ``F.layer_norm``, ``F.gelu`` ...) that module
hooks never see. During an attribution pass :class:`RuleMode` is the innermost torch function mode;
it sees every call and applies the rule of its family to calls that touch an *activation* (a tensor
that depends on the attributed tensor: :mod:`~hf_challenger.lrp.activations` follows them from the
attributed tensor call by call; parameters, buffers and what is computed from them alone are
constants):

- element-wise nonlinearities (GELU, SiLU, tanh, sigmoid, ...): identity rule (relevance passes
  unchanged), see :func:`~hf_challenger.lrp.gradients.identity_rule`;
- ``F.layer_norm``/``F.group_norm``/``F.rms_norm``: the normalising statistic held constant; inside a
  normalisation *module* written out by hand (Llama's RMSNorm, T5's LayerNorm) the results of
  ``sqrt``/``rsqrt``/``var``/``std``/fractional powers are detached instead;
- products of two activations (``matmul``, ``bmm``, ``einsum``, ``*``): ``"attnlrp"`` halves the
  gradient of each operand (relevance splits half and half); ``"cp"`` holds a gate (the output of an
  activation rule) constant and halves only between two non-gate activations;
- ``softmax``: ordinary gradient (``"attnlrp"``) or a constant (``"cp"``: attention weights carry no
  relevance to q and k);
- ``F.scaled_dot_product_attention``: computed as its eager decomposition so the product and softmax
  rules apply (``eager`` and ``sdpa`` attention give the same relevance);
- linear and structural calls (sums, scaling by constants, reshapes, indexing, concatenation,
  dropout in eval, rotary position encoding, pooling, masking): ordinary gradient.

Any other call on an activation is unknown: :class:`UnsupportedLayerError` names the innermost
module (path and type) and the call, unless the engine was built with ``unknown_layers="gradient"``.
Inside a module that has a module rule (Linear, Conv, BatchNorm, activation modules ...) calls pass
through untouched. The mode exists only while a pass runs; nothing in torch is patched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .activations import ActivationSet
from .call_rules import GRADIENT_CALLS, HANDLERS, IN_PLACE_CALLS, NONLINEAR_CALLS, STATISTIC_CALLS, is_fractional_power
from .errors import UnsupportedLayerError
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
        active = self.activations.any_in(args, kwargs)
        if self.upcast is not None:
            args, kwargs = _upcast(args, self.upcast, keep_first=in_place), _upcast(kwargs, self.upcast)
        if not active:
            out = func(*args, **kwargs)
        else:
            out = self._apply_rule(func, name, args, kwargs)
            if in_place and args and isinstance(args[0], Tensor) and args[0].requires_grad:
                self.activations.add(args[0])
        if self.upcast is not None and not in_place:
            out = _upcast(out, self.upcast)
        if active:
            self.activations.add_results(out)
        return out

    def _apply_rule(self, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
        """``func(*args, **kwargs)`` under the rule of its family (at least one argument is an activation)."""
        if self.scope.opaque or name in GRADIENT_CALLS:
            return func(*args, **kwargs)
        handler = HANDLERS.get(name)
        if handler is not None:
            return handler(self, func, args, kwargs)
        if self.scope.norm:
            out = func(*args, **kwargs)
            return _detached(out) if name in STATISTIC_CALLS or is_fractional_power(name, args) else out
        if name in NONLINEAR_CALLS:
            return self._nonlinear(func, args, kwargs)
        if self.unknown == "gradient":
            return func(*args, **kwargs)
        raise UnsupportedLayerError(
            f"EpsilonLRP has no rule for the call {name or func!r} on an activation in {self.scope.where()}. "
            "Supported: Linear/Conv/Conv1D (epsilon rule), BatchNorm, element-wise activations (identity "
            "rule), LayerNorm/RMSNorm/GroupNorm (constant std), attention (softmax, products of two "
            "activations, scaled_dot_product_attention), pooling, dropout, sums and reshapes. To let "
            "relevance flow through such calls as the gradient, build the engine with "
            "EpsilonLRP(model, unknown_layers='gradient') (training argument challenger_unknown_layers), "
            "or attribute at a module above it with at=..."
        )

    # ------------------------------------------------------------------ rules

    def mark_gate(self, tensor: Tensor) -> Tensor:
        """Remember ``tensor`` as the output of an activation rule (a gate for ``"cp"``)."""
        self.gates[id(tensor)] = tensor
        return self.activations.add(tensor)

    def origin(self, key: tuple, function: Callable[[Tensor], Tensor], like: Tensor) -> tuple[float, float]:
        """``(f(0), f'(0))`` of an element-wise activation, computed once per engine (one host read)."""
        key = (*key, like.dtype)
        values = self._origins.get(key)
        if values is None:
            zero = torch.zeros((), dtype=like.dtype, device=like.device, requires_grad=True)
            with torch.enable_grad():
                value = function(zero)
                (slope,) = torch.autograd.grad(value, zero, allow_unused=True)
            values = (float(value.detach()), 0.0 if slope is None else float(slope))
            self._origins[key] = values
        return values

    def identity(
        self, key: tuple, function: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, merged: bool = False
    ) -> Tensor:
        """The identity rule for ``y = function(x)``, marked as a gate (``merged``: see ``identity_rule``)."""
        value_at_zero, slope_at_zero = self.origin(key, function, x)
        return self.mark_gate(identity_rule(x, y, slope_at_zero, value_at_zero, self.epsilon, merged))

    def _nonlinear(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        x = args[0] if args else None
        if not self.is_activation(x):
            return func(*args, **kwargs)
        rest = args[1:]
        y = func(x.detach(), *rest, **kwargs)
        key = (func, repr(rest), repr(sorted(kwargs.items())))
        return self.identity(key, lambda z: func(z, *rest, **kwargs), x, y)


def _upcast(value: Any, dtype: torch.dtype, keep_first: bool = False) -> Any:
    """``value`` with its half-precision floating tensors cast to ``dtype`` (through one level of
    tuples, lists and keyword dicts); with ``keep_first`` the first item is left as it is (the target
    of an in-place call)."""
    if isinstance(value, Tensor):
        return value.to(dtype) if value.dtype in (torch.float16, torch.bfloat16) else value
    if isinstance(value, dict):
        return {key: _upcast(item, dtype) for key, item in value.items()}
    if type(value) in (tuple, list):
        items = [item if keep_first and i == 0 else _upcast(item, dtype) for i, item in enumerate(value)]
        return type(value)(items)
    return value


def _detached(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(_detached(item) for item in value)
    return value
