"""Mean cosine similarity between the filters of a layer (the paper's Table 1).

A filter is one output unit's weights: row ``o`` of a Linear weight ``[out, in]``, or
output channel ``o`` of a convolution weight ``[out, in / groups, *kernel]``, flattened.
Lower values mean more diverse filters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ._arrays import check_finite, to_numpy

DEFAULT_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def filter_cosine_similarity(weight: Any, name: str = "weight") -> float:
    """Mean cosine similarity over all distinct pairs of filters of one layer.

    ``mean_{i != j} <w_i, w_j> / (|w_i| |w_j|)`` with ``w_o = weight[o].flatten()``,
    computed in float64 as ``(|sum_o u_o|^2 - F) / (F (F - 1))`` with ``u_o`` the unit
    filters, which is the mean of the off-diagonal of the Gram matrix of unit filters.

    Args:
        weight: ``[F, ...]`` weights, output filters along the first axis (``F >= 2``).
        name: how errors refer to the weight (e.g. the layer's name).

    Raises:
        ValueError: fewer than 2 filters, an all-zero filter (its direction is
            undefined) or non-finite weights.
    """
    filters = to_numpy(weight, name).astype(np.float64, copy=False)
    if filters.ndim < 2:
        raise ValueError(f"{name} must have shape [filters, ...] with at least 2 axes, got {tuple(filters.shape)}")
    filters = filters.reshape(filters.shape[0], -1)
    num_filters = filters.shape[0]
    if num_filters < 2:
        raise ValueError(f"{name} has {num_filters} filter(s); a pairwise similarity needs at least 2")
    check_finite(filters, name)
    norms = np.linalg.norm(filters, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{name} has all-zero filter(s) {zero[:10].tolist()}: their cosine similarity is undefined"
        )
    unit_sum = (filters / norms[:, None]).sum(axis=0)
    return float((unit_sum @ unit_sum - num_filters) / (num_filters * (num_filters - 1)))


def layer_filter_cosine_similarity(
    model: nn.Module, layer_types: tuple[type[nn.Module], ...] = DEFAULT_LAYER_TYPES
) -> dict[str, float]:
    """Mean pairwise cosine similarity between filters, for every Conv/Linear layer.

    Args:
        model: any ``torch.nn.Module`` (a DDP/accelerate wrapper is unwrapped via
            ``.module``).
        layer_types: module classes to measure; Linear and Conv1d/2d/3d by default
            (transposed convolutions may be added: their filters are taken along the
            output-channel axis too).

    Returns:
        ``{qualified module name: value}`` in module order. A layer with a single output
        unit (e.g. a one-logit head) has no pair of filters; its value is NaN.

    Raises:
        ValueError: the model has no layer of ``layer_types``, or a layer has an all-zero
            filter.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    result: dict[str, float] = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, layer_types):
                continue
            weight = module.weight
            if isinstance(module, nn.modules.conv._ConvTransposeNd):
                weight = weight.transpose(0, 1)  # stored as [in, out / groups, *kernel]
            if weight.shape[0] < 2:
                result[name] = math.nan
                continue
            result[name] = filter_cosine_similarity(weight, name=f"weight of layer {name!r}")
    if not result:
        names = ", ".join(t.__name__ for t in layer_types)
        raise ValueError(f"model {type(model).__name__} has no layer of type {names}")
    return result
