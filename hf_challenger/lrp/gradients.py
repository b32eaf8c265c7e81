"""Modified-gradient primitives for the transformer rules (relevance = x * grad).

Each function returns a tensor with the *value* of the ordinary computation and a backward that
implements one LRP rule in the gradient domain (G = R / a):

- :func:`identity_rule`: an element-wise nonlinearity ``y = f(x)`` passes relevance unchanged
  (R_x = R_y), i.e. ``g_x = g_y * f(x) / x``.
- :func:`scaled_gradient`: the product of ``n`` activations passes ``1/n`` of its gradient on, so each
  operand receives ``1/n`` of its ordinary gradient (AttnLRP's uniform rule: relevance of ``a * b``
  splits half and half).
- :func:`layer_norm_constant_std`, :func:`group_norm_constant_std`, :func:`rms_norm_constant_rms`:
  normalisation with the normalising statistic held constant, centring and affine part as they are.

They exist only as autograd functions applied during an attribution pass; nothing global changes.
Each returns a tensor of its own, never a view of an input, so a model may edit the result in place
(XLM's ``tensor *= mask`` after a layer norm): the precomputed value is handed to ``apply`` inside a
tuple, which autograd does not treat as an input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class _GradientScale(torch.autograd.Function):
    """``value`` forward (a tensor with no graph of its own, boxed); ``g * scale`` to ``source``
    backward, summed to ``source``'s shape where the value broadcast it (``c / x`` with a larger ``c``)."""

    @staticmethod
    def forward(ctx, source: Tensor, box: tuple[Tensor], scale: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(scale)
        ctx.shape = source.shape
        return box[0]

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (scale,) = ctx.saved_tensors
        scaled = grad * scale
        return (scaled if scaled.shape == ctx.shape else scaled.sum_to_size(ctx.shape)), None, None


def identity_ratio(x: Tensor, y: Tensor, slope_at_zero: float, value_at_zero: float, epsilon: float) -> Tensor:
    """``f(x) / x`` element-wise, finite everywhere; ``x``, ``y = f(x)`` share a shape.

    Where ``x == 0`` (where ``y / x`` is 0/0 or +-inf): the limit ``f'(0)`` if ``f(0) == 0``
    (``slope_at_zero``), else ``f(0) / eps`` (the epsilon stabiliser with sign(0) = +1, as the epsilon
    rule treats ``z = 0``). Two vectorised passes.
    """
    at_zero = value_at_zero / epsilon
    return torch.div(y, x).nan_to_num_(nan=slope_at_zero, posinf=at_zero, neginf=at_zero)


def merged_identity_ratio(x: Tensor, y: Tensor, value_at_zero: float, epsilon: float) -> Tensor:
    """``f(x) / (x + eps * sign(x))``: the identity rule times the epsilon rule of the Linear/Conv whose
    output ``x`` is, ``(f(x) / x) * (x / (x + eps * sign(x)))``, in one factor; 0 where ``x == 0``, where
    the epsilon rule's factor is 0 (an extra pass only for activations with ``f(0) != 0``)."""
    ratio = torch.div(y, x.abs().add_(epsilon).copysign_(x))
    return ratio.masked_fill_(x == 0, 0.0) if value_at_zero != 0 else ratio


def identity_rule(
    x: Tensor, y: Tensor, slope_at_zero: float, value_at_zero: float, epsilon: float, merged: bool = False
) -> Tensor:
    """``y`` (the value of ``f(x)``, any graph dropped) whose gradient reaches ``x`` as ``g * f(x)/x``.

    With ``merged=True`` the factor also carries the epsilon scaling of the layer that produced ``x``
    (see :func:`merged_identity_ratio`). Shapes: ``x`` and ``y`` ``[*]``, the same; computed in
    ``x``'s dtype (the pass's fp32/fp64).
    """
    x_value = x.detach()
    y_value = y.detach().to(x.dtype)
    if merged:
        ratio = merged_identity_ratio(x_value, y_value, value_at_zero, epsilon)
    else:
        ratio = identity_ratio(x_value, y_value, slope_at_zero, value_at_zero, epsilon)
    return _GradientScale.apply(x, (y_value,), ratio)


class _ScaledGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, share: float) -> Tensor:  # type: ignore[override]
        ctx.share = share
        return x.detach()  # the same storage, not an autograd view of x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return grad * ctx.share, None


def scaled_gradient(x: Tensor, share: float) -> Tensor:
    """``x`` unchanged forward; ``share`` times the incoming gradient backward (``x`` ``[*]``)."""
    return _ScaledGradient.apply(x, share)


def _inverse_std(centred: Tensor, dims: Sequence[int], eps: float) -> Tensor:
    return torch.rsqrt(centred.pow(2).mean(dim=tuple(dims), keepdim=True) + eps)


class _CentredScale(torch.autograd.Function):
    """Backward of ``(x - mean_dims(x)) * scale`` with ``scale`` constant; forward returns ``value``."""

    @staticmethod
    def forward(ctx, x: Tensor, box: tuple[Tensor], scale: Tensor, dims: tuple[int, ...], centre: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(scale)
        ctx.dims, ctx.centre = dims, centre
        return box[0]

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (scale,) = ctx.saved_tensors
        scaled = grad * scale
        if ctx.centre:
            scaled = scaled - scaled.mean(dim=ctx.dims, keepdim=True)
        return scaled, None, None, None, None


def layer_norm_constant_std(
    x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None, bias: Tensor | None, eps: float
) -> Tensor:
    """``F.layer_norm`` value; backward with the standard deviation held constant.

    ``x`` ``[*, *normalized_shape]``. Gradient: ``centre(g * weight) / std`` over the normalised dims.
    """
    dims = tuple(range(-len(normalized_shape), 0))
    with torch.no_grad():
        value, _, inverse_std = torch.native_layer_norm(x, list(normalized_shape), weight, bias, eps)
        scale = inverse_std if weight is None else inverse_std * weight
    return _CentredScale.apply(x, (value,), scale, dims, True)


def rms_norm_constant_rms(
    x: Tensor, normalized_shape: Sequence[int], weight: Tensor | None, eps: float | None
) -> Tensor:
    """``F.rms_norm`` value; backward ``g * weight / rms`` (the root mean square held constant)."""
    dims = tuple(range(-len(normalized_shape), 0))
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    with torch.no_grad():
        value = torch.nn.functional.rms_norm(x, normalized_shape, weight, eps)
        scale = torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + eps)
        if weight is not None:
            scale = scale * weight
    return _CentredScale.apply(x, (value,), scale, dims, False)


def group_norm_constant_std(
    x: Tensor, num_groups: int, weight: Tensor | None, bias: Tensor | None, eps: float
) -> Tensor:
    """``F.group_norm`` value (``x`` ``[N, C, *]``); backward with each group's std held constant."""
    n, c = x.shape[0], x.shape[1]
    with torch.no_grad():
        value = torch.nn.functional.group_norm(x, num_groups, weight, bias, eps)
        grouped = x.reshape(n, num_groups, -1)
        inverse = _inverse_std(grouped - grouped.mean(dim=2, keepdim=True), (2,), eps)
        scale = inverse.expand(n, num_groups, c // num_groups).reshape(n, c, *([1] * (x.dim() - 2)))
        if weight is not None:
            scale = scale * weight.reshape(1, c, *([1] * (x.dim() - 2)))
    return _GroupCentredScale.apply(x, (value,), scale, num_groups)


class _GroupCentredScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, box: tuple[Tensor], scale: Tensor, groups: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(scale)
        ctx.groups = groups
        return box[0]

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (scale,) = ctx.saved_tensors
        scaled = grad * scale
        grouped = scaled.reshape(scaled.shape[0], ctx.groups, -1)
        centred = (grouped - grouped.mean(dim=2, keepdim=True)).reshape(scaled.shape)
        return centred, None, None, None
