"""Shared steps of the image benchmarks (MNIST, CIFAR-10): uint8 arrays to normalised tensors.

Output columns: ``pixel_values`` float32 ``[C, H, W]`` and ``labels`` (a
``ClassLabel``, int64). Normalisation:

- ``"standard"`` (default): ``(x / 255 - mean_c) / std_c`` with the per-channel
  mean and standard deviation of the benchmark's full training set (constants
  in each benchmark module), the usual convention for these data sets.
- ``"unit"``: ``x / 255`` in ``[0, 1]``.

Zero-padding (MNIST ``image_size=32``) adds black pixels (value 0) before
normalisation, so the border equals the background of the digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features

from ._common import resolve_split_size, stratified_split, write_split

NORMALIZATIONS = ("standard", "unit")
_BATCH = 2048


def with_validation(
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]], validation_size: int | float, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Carve a stratified, seeded validation split out of ``splits["train"]`` (images ``[N, ...]``, labels ``[N]``)."""
    images, labels = splits["train"]
    count = resolve_split_size("validation_size", validation_size, len(labels))
    keep, held = stratified_split(labels, count, seed)
    return {
        "train": (images[keep], labels[keep]),
        "validation": (images[held], labels[held]),
        "test": splits["test"],
    }


def _normalised_batches(
    images: np.ndarray,
    labels: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    normalization: str,
    pad: int,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield batches ``{"pixel_values": float32 [B, C, H + 2 pad, W + 2 pad], "labels": int64 [B]}``."""
    scale = (1.0 / 255.0) / std if normalization == "standard" else np.full_like(std, 1.0 / 255.0)
    shift = mean / std if normalization == "standard" else np.zeros_like(mean)
    scale = scale.astype(np.float32)[None, :, None, None]
    shift = shift.astype(np.float32)[None, :, None, None]
    for start in range(0, len(labels), _BATCH):
        batch = images[start : start + _BATCH]
        if pad:
            batch = np.pad(batch, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        pixels = batch.astype(np.float32) * scale - shift
        yield {"pixel_values": pixels, "labels": labels[start : start + _BATCH].astype(np.int64)}


def build_image_dataset_dict(
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    normalization: str,
    pad: int,
    metadata: Mapping[str, Any],
    scratch: Path,
) -> DatasetDict:
    """Write train/validation/test splits of uint8 images ``[N, C, H, W]`` and int labels ``[N]``.

    ``pad`` zero pixels are added on every side before normalisation. The
    statistics used are recorded in the metadata under ``normalization``.
    """
    channels, height, width = splits["train"][0].shape[1:]
    features = Features(
        {
            "pixel_values": Array3D((channels, height + 2 * pad, width + 2 * pad), "float32"),
            "labels": ClassLabel(names=list(class_names)),
        }
    )
    mean_array = np.asarray(mean, dtype=np.float64)
    std_array = np.asarray(std, dtype=np.float64)
    full_metadata = {
        **metadata,
        "label_names": list(class_names),
        "problem_type": "single_label_classification",
        "normalization": {"kind": normalization, "mean": list(mean), "std": list(std), "pad": pad},
    }
    result: dict[str, Dataset] = {}
    for name, (images, labels) in splits.items():
        batches = _normalised_batches(images, labels, mean_array, std_array, normalization, pad)
        result[name] = write_split(scratch, name, features, full_metadata, batches)
    return DatasetDict(result)


def image_builder(
    read: Callable[[], Mapping[str, tuple[np.ndarray, np.ndarray]]], **kwargs: Any
) -> Callable[[Path], DatasetDict]:
    """A ``build(scratch)`` for :func:`~hf_challenger.data._common.cached_dataset_dict`: ``read()`` gives the
    train/validation/test arrays, :func:`build_image_dataset_dict` (with ``kwargs``) writes them."""
    return lambda scratch: build_image_dataset_dict(read(), scratch=scratch, **kwargs)


def hub_images_to_arrays(
    dataset: Dataset, image_column: str, label_column: str, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a Hub image split to uint8 ``[N, C, H, W]`` and int64 labels ``[N]``.

    A ``ClassLabel`` label column must list ``class_names`` in that order.
    """
    missing = [c for c in (image_column, label_column) if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"Hub dataset split lacks column(s) {missing}; it has {dataset.column_names} "
            f"(expected an image column {image_column!r} and a label column {label_column!r})"
        )
    feature = dataset.features[label_column]
    if isinstance(feature, ClassLabel) and list(feature.names) != list(class_names):
        raise ValueError(f"Hub label names {feature.names} differ from the expected {list(class_names)}")
    numpy_view = dataset.with_format("numpy")
    chunks = []
    for start in range(0, len(dataset), _BATCH):
        chunk = np.asarray(numpy_view[start : start + _BATCH][image_column])
        chunks.append(chunk[:, None] if chunk.ndim == 3 else chunk.transpose(0, 3, 1, 2))
    images = np.concatenate(chunks).astype(np.uint8)
    labels = np.asarray(numpy_view[label_column][:], dtype=np.int64)
    return images, labels
