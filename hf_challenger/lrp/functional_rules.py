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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .activations import ActivationSet
from .gradients import (
    group_norm_constant_std,
    identity_rule,
    layer_norm_constant_std,
    rms_norm_constant_rms,
    scaled_gradient,
)

ATTENTION_RULES = ("attnlrp", "cp")


class UnsupportedLayerError(TypeError):
    """A module or call the engine has no rule for took part in the attribution forward."""


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


# Calls whose rule is the ordinary gradient: linear in their tensor inputs, or structural.
GRADIENT_CALLS = frozenset(
    """
    __get__ __getitem__ __setitem__ __len__ __iter__ __format__ __repr__ __bool__ __contains__
    __add__ __radd__ __iadd__ add add_ __sub__ __rsub__ __isub__ sub sub_ subtract rsub __neg__ neg negative
    __eq__ __ne__ __lt__ __le__ __gt__ __ge__ eq ne lt le gt ge __and__ __or__ __invert__ logical_not
    logical_and logical_or isnan isinf isfinite all any nonzero argmax argmin argsort sort topk
    max min amax amin maximum minimum clamp clamp_ clip relu relu_ leaky_relu leaky_relu_ threshold
    view view_as reshape reshape_as permute transpose transpose_ t contiguous expand expand_as repeat
    repeat_interleave flatten unflatten squeeze unsqueeze narrow select index_select gather take_along_dim
    masked_select split split_with_sizes tensor_split chunk unbind cat concat concatenate stack hstack vstack
    roll flip movedim moveaxis swapaxes swapdims unfold pad clone detach detach_ to type float double half
    bfloat16 type_as cpu cuda requires_grad_ sum mean cumsum nansum dropout dropout1d dropout2d dropout3d
    alpha_dropout feature_alpha_dropout masked_fill masked_fill_ where interpolate upsample
    avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
    max_pool1d max_pool2d max_pool3d max_pool1d_with_indices max_pool2d_with_indices
    adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool1d_with_indices adaptive_max_pool2d_with_indices
    copy_ fill_ zero_ new_zeros new_ones new_empty new_full new_tensor zeros_like ones_like empty_like
    full_like rand_like randn_like size dim numel stride element_size data_ptr is_floating_point
    is_contiguous is_complex storage_offset untyped_storage register_hook retain_grad item tolist numpy
    diagonal diag_embed tril triu masked_scatter index_add index_put index_put_ scatter scatter_add
    index_copy linear conv1d conv2d conv3d conv_transpose1d conv_transpose2d addmm embedding
    batch_norm one_hot as_strided narrow_copy expand_copy
    """.split()
)

# Element-wise nonlinearities with f(0) = 0 or not: the identity rule applies.
NONLINEAR_CALLS = frozenset(
    "gelu gelu_ silu silu_ tanh tanh_ sigmoid sigmoid_ elu elu_ selu celu mish hardswish hardsigmoid "
    "softplus relu6 hardtanh softsign tanhshrink logsigmoid erf".split()
)

# Results held constant inside a normalisation module written out by hand.
STATISTIC_CALLS = frozenset("rsqrt sqrt std var var_mean std_mean reciprocal norm".split())

# In-place calls whose names do not end in "_": their first argument becomes their result.
IN_PLACE_CALLS = frozenset("__setitem__ __iadd__ __isub__ __imul__ __itruediv__ __ipow__ __iand__ __ior__".split())

PRODUCT_CALLS = frozenset("__mul__ __rmul__ mul multiply __matmul__ __rmatmul__ matmul bmm mm einsum".split())


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
        if not self.activations.any_in(args, kwargs):
            return func(*args, **kwargs)  # weights, buffers, masks, an engine's own bookkeeping
        if self.upcast is not None:  # half-precision weights meet activations in the compute dtype
            args, kwargs = _upcast(args, self.upcast, keep_first=in_place), _upcast(kwargs, self.upcast)
        out = self._apply_rule(func, name, args, kwargs)
        if in_place and args and isinstance(args[0], Tensor) and args[0].requires_grad:
            self.activations.add(args[0])
        if self.upcast is not None and not in_place:
            out = _upcast(out, self.upcast)
        self.activations.add_results(out)
        return out

    def _apply_rule(self, func: Callable, name: str, args: tuple, kwargs: dict) -> Any:
        """``func(*args, **kwargs)`` under the rule of its family (at least one argument is an activation)."""
        if self.scope.opaque or name in GRADIENT_CALLS:
            return func(*args, **kwargs)
        handler = _HANDLERS.get(name)
        if handler is not None:
            return handler(self, func, args, kwargs)
        if self.scope.norm:
            out = func(*args, **kwargs)
            return _detached(out) if name in STATISTIC_CALLS or _is_fractional_power(name, args) else out
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

    def product(self, func: Callable, operands: list[Any], **kwargs: Any) -> Any:
        """``func(*operands)`` with the attention rule applied to its activation operands.

        The uniform rule gives each of ``n`` activation operands ``1/n`` of its gradient; as every
        operand's gradient is linear in the product's, that is the product's gradient scaled by ``1/n``
        (one pass over the output). ``"cp"`` first holds gates (outputs of activation rules) constant.
        """
        active = [i for i, value in enumerate(operands) if self.is_activation(value)]
        if len(active) >= 2 and self.attention_rule == "cp":
            gates = [i for i in active if id(operands[i]) in self.gates]
            if gates and len(gates) < len(active):
                operands = [v.detach() if i in gates else v for i, v in enumerate(operands)]
                active = [i for i in active if i not in gates]
        out = func(*operands, **kwargs)
        return scaled_gradient(out, 1.0 / len(active)) if len(active) >= 2 else out

    def softmax(self, func: Callable, args: tuple, kwargs: dict) -> Any:
        out = func(*args, **kwargs)
        return out.detach() if self.attention_rule == "cp" else out


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


def _detached(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(_detached(item) for item in value)
    return value


def _is_fractional_power(name: str, args: tuple) -> bool:
    if name not in ("pow", "__pow__", "float_power"):
        return False
    exponent = args[1] if len(args) > 1 else None
    return isinstance(exponent, (int, float)) and not (float(exponent).is_integer() and exponent >= 1)


def _handle_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    if func is torch.einsum or getattr(func, "__name__", "") == "einsum":
        equation, *operands = args
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        return mode.product(lambda *ops, **kw: func(equation, *ops, **kw), operands, **kwargs)
    return mode.product(func, list(args), **kwargs)


def _handle_in_place_product(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    if sum(mode.is_activation(a) for a in args) >= 2:
        raise UnsupportedLayerError(
            f"an in-place product of two activations ({func.__name__}) in {mode.scope.where()} cannot take the "
            "attention rule; write it out of place (a = a * b)"
        )
    return func(*args, **kwargs)


def _handle_division(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
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


def _handle_softmax(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    return mode.softmax(func, args, kwargs)


def _handle_layer_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "normalized_shape", "weight", "bias", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return layer_norm_constant_std(
        bound["input"], bound["normalized_shape"], bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
    )


def _handle_rms_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "normalized_shape", "weight", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return rms_norm_constant_rms(bound["input"], bound["normalized_shape"], bound.get("weight"), bound.get("eps"))


def _handle_group_norm(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("input", "num_groups", "weight", "bias", "eps")
    bound = {**dict(zip(names, args)), **kwargs}
    if not mode.is_activation(bound["input"]):
        return func(*args, **kwargs)
    return group_norm_constant_std(
        bound["input"], bound["num_groups"], bound.get("weight"), bound.get("bias"), bound.get("eps", 1e-5)
    )


def _handle_sdpa(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    bound = {**dict(zip(names, args)), **kwargs}
    query, key, value = bound["query"], bound["key"], bound["value"]
    if not any(mode.is_activation(t) for t in (query, key, value)):
        return func(*args, **kwargs)
    if bound.get("enable_gqa", False):
        repeats = query.size(-3) // key.size(-3)
        key = mode.follow(key.repeat_interleave(repeats, -3), key)
        value = mode.follow(value.repeat_interleave(repeats, -3), value)
    scale = bound.get("scale")
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = mode.product(torch.matmul, [query, mode.follow(key.transpose(-2, -1), key)]) * scale
    mask = bound.get("attn_mask")
    masked = mask is not None or bool(bound.get("is_causal", False))
    if bound.get("is_causal", False):
        causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = mode.softmax(torch.softmax, (scores,), {"dim": -1})
    if masked:  # rows with every key masked attend to nothing (as the fused kernels return)
        weights = weights.nan_to_num(0.0)
    return mode.product(torch.matmul, [mode.follow(weights, query, key), value])


_HANDLERS: dict[str, Callable[[RuleMode, Callable, tuple, dict], Any]] = {
    **{name: _handle_product for name in PRODUCT_CALLS},
    "mul_": _handle_in_place_product,
    "__imul__": _handle_in_place_product,
    "__truediv__": _handle_division,
    "__rtruediv__": _handle_division,
    "div": _handle_division,
    "true_divide": _handle_division,
    "divide": _handle_division,
    "softmax": _handle_softmax,
    "_softmax": _handle_softmax,
    "layer_norm": _handle_layer_norm,
    "rms_norm": _handle_rms_norm,
    "group_norm": _handle_group_norm,
    "scaled_dot_product_attention": _handle_sdpa,
}
