"""Conversion of metric inputs to numpy and validation of their shapes and values.

Every public metric accepts numpy arrays, torch tensors (any device, any float dtype,
bfloat16 included) or nested sequences; they are converted here to ``float64`` /
``int64`` numpy arrays, and any bad shape or value is refused with a message that names
the argument, the offending value and what is allowed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Rows of a probability matrix may deviate this much from summing to one (float32
# softmax outputs are well within it; logits passed by mistake are far outside it).
PROBABILITY_SUM_ATOL = 1e-3


def to_numpy(value: Any, name: str) -> np.ndarray:
    """Return ``value`` (numpy array, torch tensor or sequence) as a numpy array."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu")
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.to(torch.float64)  # bfloat16/float16 have no exact numpy twin
        return tensor.numpy()
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(
            f"{name} must be a numeric numpy array, torch tensor or nested sequence of numbers, "
            f"got an array of dtype {array.dtype}"
        )
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise if ``array`` holds NaN or infinity, naming the first bad index."""
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite, but {name}{list(index)} = {array[index]}")


def scores_2d(value: Any, name: str, *, min_classes: int = 2) -> np.ndarray:
    """Validate a ``[N, C]`` score matrix (logits or probabilities); return it as float64."""
    array = to_numpy(value, name).astype(np.float64, copy=False)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [N, C] (samples x classes), got shape {tuple(array.shape)}")
    if array.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample, got shape {tuple(array.shape)}")
    if array.shape[1] < min_classes:
        raise ValueError(
            f"{name} must have at least {min_classes} class columns, got shape {tuple(array.shape)}"
        )
    check_finite(array, name)
    return array


def class_labels(value: Any, num_samples: int, num_classes: int, name: str = "labels") -> np.ndarray:
    """Validate integer class labels ``[N]`` with values in ``[0, num_classes)``; return int64."""
    array = to_numpy(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape [N] (one class index per sample), got shape {tuple(array.shape)}")
    if array.shape[0] != num_samples:
        raise ValueError(f"{name} has {array.shape[0]} entries but the scores have {num_samples} rows")
    if not np.issubdtype(array.dtype, np.integer):
        if array.dtype == bool:
            raise TypeError(f"{name} must hold integer class indices, got dtype bool")
        check_finite(array, name)
        fractional = array != np.round(array)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise ValueError(f"{name} must hold integer class indices, but {name}[{i}] = {array[i]}")
    labels = array.astype(np.int64)
    out_of_range = (labels < 0) | (labels >= num_classes)
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise ValueError(
            f"{name} must lie in [0, {num_classes - 1}] for {num_classes} classes, but {name}[{i}] = {labels[i]}"
        )
    return labels


def multi_hot_labels(value: Any, shape: tuple[int, int], name: str = "labels") -> np.ndarray:
    """Validate multi-hot labels ``[N, C]`` holding only 0 and 1; return them as int64."""
    array = to_numpy(value, name)
    if tuple(array.shape) != tuple(shape):
        raise ValueError(
            f"{name} must be multi-hot with the scores' shape {tuple(shape)}, got shape {tuple(array.shape)}"
        )
    not_binary = (array != 0) & (array != 1)
    if not_binary.any():
        index = tuple(int(i) for i in np.argwhere(not_binary)[0])
        raise ValueError(f"{name} must hold only 0 and 1, but {name}{list(index)} = {array[index]}")
    return array.astype(np.int64)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``[N, C]`` logits, computed stably in float64."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of ``[N, C]`` logits, computed stably in float64."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def check_probabilities(probs: np.ndarray, name: str) -> None:
    """Raise unless every row of ``probs [N, C]`` is a probability vector (within tolerance)."""
    outside = (probs < -PROBABILITY_SUM_ATOL) | (probs > 1 + PROBABILITY_SUM_ATOL)
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"{name} must be probabilities in [0, 1], but {name}{list(index)} = {probs[index]:.6g}; "
            "pass from_logits=True if these are logits"
        )
    deviation = np.abs(probs.sum(axis=1) - 1.0)
    if (deviation > PROBABILITY_SUM_ATOL).any():
        i = int(np.argmax(deviation))
        raise ValueError(
            f"each row of {name} must sum to 1 (tolerance {PROBABILITY_SUM_ATOL}), but row {i} sums to "
            f"{probs[i].sum():.6g}; pass from_logits=True if these are logits"
        )


def probabilities(scores: Any, from_logits: bool, name: str = "scores") -> np.ndarray:
    """Return validated class probabilities ``[N, C]`` from logits or probabilities."""
    if not isinstance(from_logits, bool):
        raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
    array = scores_2d(scores, name)
    if from_logits:
        return softmax(array)
    check_probabilities(array, name)
    return np.clip(array, 0.0, 1.0)
