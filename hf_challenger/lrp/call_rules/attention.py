"""(e) Attention: softmax, and attention written as one call decomposed into its products."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .products import product

if TYPE_CHECKING:
    from ..functional_rules import RuleMode


def softmax(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
    """Softmax keeps its gradient (``"attnlrp"``) or is a constant (``"cp"``)."""
    out = func(*args, **kwargs)
    return out.detach() if mode.attention_rule == "cp" else out


def handle_sdpa(mode: RuleMode, func: Callable, args: tuple, kwargs: dict) -> Any:
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
    scores = product(mode, torch.matmul, [query, mode.follow(key.transpose(-2, -1), key)]) * scale
    mask = bound.get("attn_mask")
    masked = mask is not None or bool(bound.get("is_causal", False))
    if bound.get("is_causal", False):
        causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = softmax(mode, torch.softmax, (scores,), {"dim": -1})
    if masked:  # rows with every key masked attend to nothing (as the fused kernels return)
        weights = weights.nan_to_num(0.0)
    return product(mode, torch.matmul, [mode.follow(weights, query, key), value])


HANDLERS = {"softmax": softmax, "_softmax": softmax, "scaled_dot_product_attention": handle_sdpa}
