"""(e) Attention: softmax, and attention written as one call decomposed into its products.

``softmax`` keeps its gradient in ``"attnlrp"`` and is a constant in ``"cp"`` (attention weights carry
no relevance to q and k). ``F.scaled_dot_product_attention`` and ``F.multi_head_attention_forward``
(``nn.MultiheadAttention``) are computed as their eager decomposition, ``softmax(q k^T * scale + mask) v``,
so that the product rule applies to ``q k^T`` and to ``weights v`` and the softmax rule to the weights;
the in- and out-projections of ``multi_head_attention_forward`` take the epsilon rule, as an
``nn.Linear`` does. ``eager`` and ``sdpa`` attention give the same relevance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..rules import epsilon_scaled
from .elementwise import unsupported
from .products import product

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def softmax(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """Softmax keeps its gradient (``"attnlrp"``) or is a constant (``"cp"``)."""
    out = func(*args, **kwargs)
    return out.detach() if mode.attention_rule == "cp" else out


def attend(
    mode: RuleMode, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None, is_causal: bool, scale: float | None
) -> Tensor:
    """``softmax(query key^T * scale + mask) value`` under the product and softmax rules.

    ``query`` ``[*, L, d]``, ``key`` ``[*, S, d]``, ``value`` ``[*, S, d_v]``; ``mask`` broadcastable to
    ``[*, L, S]``, bool (``True`` = may attend, as in sdpa) or additive; returns ``[*, L, d_v]``. Rows
    with every key masked attend to nothing (as the fused kernels return).
    """
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = product(mode, torch.matmul, [query, mode.follow(key.transpose(-2, -1), key)]) * scale
    if is_causal:
        causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = softmax(mode, torch.softmax, (scores,), {"dim": -1})
    if mask is not None or is_causal:
        weights = weights.nan_to_num(0.0)
    return product(mode, torch.matmul, [mode.follow(weights, query, key), value])


def handle_sdpa(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, enable_gqa)``,
    ``q`` ``[N, H, L, d]``; dropout is off in the pass (eval mode)."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    bound = {**dict(zip(names, args)), **kwargs}
    query, key, value = bound["query"], bound["key"], bound["value"]
    if bound.get("enable_gqa", False):
        repeats = query.size(-3) // key.size(-3)
        key = mode.follow(key.repeat_interleave(repeats, -3), key)
        value = mode.follow(value.repeat_interleave(repeats, -3), value)
    return attend(mode, query, key, value, bound.get("attn_mask"), bool(bound.get("is_causal", False)), bound.get("scale"))


_MHA_NAMES = (
    "query key value embed_dim_to_check num_heads in_proj_weight in_proj_bias bias_k bias_v add_zero_attn "
    "dropout_p out_proj_weight out_proj_bias training key_padding_mask need_weights attn_mask "
    "use_separate_proj_weight q_proj_weight k_proj_weight v_proj_weight static_k static_v "
    "average_attn_weights is_causal"
).split()


def handle_multi_head_attention(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` calls), sequence-first:
    ``query`` ``[L, N, E]`` (or ``[L, E]``), ``key``/``value`` ``[S, N, E]``. Returns ``(output
    [L, N, E], weights [N, L, S] or [N, H, L, S] or None)``; the weights are returned as constants."""
    b = {**dict(zip(_MHA_NAMES, args)), **kwargs}
    if b.get("static_k") is not None or b.get("static_v") is not None or b.get("add_zero_attn", False):
        return unsupported(mode, func, args, kwargs, "static_k, static_v or add_zero_attn")
    query, key, value = b["query"], b["key"], b["value"]
    batched = query.dim() == 3
    if not batched:
        query, key, value = (mode.follow(t.unsqueeze(1), t) for t in (query, key, value))
    length, rows, width = query.shape
    heads = b["num_heads"]
    if b.get("use_separate_proj_weight", False):
        weights = (b["q_proj_weight"], b["k_proj_weight"], b["v_proj_weight"])
    else:
        weights = b["in_proj_weight"].chunk(3)
    bias = b.get("in_proj_bias")
    biases = bias.chunk(3) if bias is not None else (None, None, None)
    q, k, v = (_projection(mode, t, w, c) for t, w, c in zip((query, key, value), weights, biases))
    key_padding, attn_mask = b.get("key_padding_mask"), b.get("attn_mask")
    if b.get("bias_k") is not None:
        k = mode.follow(torch.cat([k, b["bias_k"].expand(1, rows, -1)]), k)
        v = mode.follow(torch.cat([v, b["bias_v"].expand(1, rows, -1)]), v)
        key_padding = None if key_padding is None else F.pad(key_padding, (0, 1))
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))

    def split(t: Tensor) -> Tensor:  # [S, N, E] -> [N, H, S, E / H]
        return mode.follow(t.reshape(t.shape[0], rows, heads, -1).permute(1, 2, 0, 3), t)

    q, k, v = split(q), split(k), split(v)
    mask = _additive_mask(attn_mask, key_padding, rows, heads, q.dtype)
    causal = attn_mask is None and bool(b.get("is_causal", False))
    out = attend(mode, q, k, v, mask, causal, None)
    out = mode.follow(out.permute(2, 0, 1, 3).reshape(length, rows, width), out)
    out = _projection(mode, out, b["out_proj_weight"], b.get("out_proj_bias"))
    attention = None
    if b.get("need_weights", True):
        with torch.no_grad():
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
            if causal:
                scores = scores.masked_fill(~torch.ones_like(scores, dtype=torch.bool).tril(), float("-inf"))
            attention = torch.softmax(scores if mask is None else scores + mask, dim=-1)
            attention = attention.mean(1) if b.get("average_attn_weights", True) else attention
    if not batched:
        out = mode.follow(out.squeeze(1), out)
        attention = None if attention is None else attention.squeeze(0)
    return out, attention


def _projection(mode: RuleMode, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear(x, weight, bias)`` under the epsilon rule (its gradient scaled by ``z / (z + eps sign z)``)."""
    z = F.linear(x, weight, bias)
    if z.requires_grad:
        value, epsilon = z.detach(), mode.epsilon
        z.register_hook(lambda grad: epsilon_scaled(grad, value, epsilon))
    return mode.follow(z, x)


def _additive_mask(
    attn_mask: Tensor | None, key_padding: Tensor | None, rows: int, heads: int, dtype: torch.dtype
) -> Tensor | None:
    """``nn.MultiheadAttention``'s masks (bool: ``True`` = may *not* attend; or additive) as one
    additive mask broadcastable to ``[N, H, L, S]``."""
    mask = None
    if attn_mask is not None:
        part = attn_mask if attn_mask.dim() == 2 else attn_mask.reshape(rows, heads, *attn_mask.shape[-2:])
        mask = _as_additive(part, dtype)
    if key_padding is not None:
        part = _as_additive(key_padding.reshape(rows, 1, 1, -1), dtype)
        mask = part if mask is None else mask + part
    return mask


def _as_additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


HANDLERS = {
    "softmax": softmax,
    "_softmax": softmax,
    "scaled_dot_product_attention": handle_sdpa,
    "multi_head_attention_forward": handle_multi_head_attention,
}
