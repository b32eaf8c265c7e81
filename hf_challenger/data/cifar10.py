"""CIFAR-10: 32 x 32 colour images, 10 classes, 50,000 train / 10,000 test.

Sources: with ``data_dir``, the "python version" batches ``data_batch_1`` ..
``data_batch_5`` and ``test_batch`` (the folder ``cifar-10-batches-py`` of the
official archive); without, the Hub dataset ``uoft-cs/cifar10`` (columns
``img``, ``label``).

The batches are pickles. They are read with :class:`RestrictedUnpickler`,
which resolves only the few globals the format needs (numpy's array
reconstruction, ``numpy.ndarray``, ``numpy.dtype`` and ``_codecs.encode``,
which Python 3 uses for bytes in protocol-2 pickles); any other global in a
file raises :class:`UnsafePickleError` naming the file, so a tampered data
folder cannot run code. Each batch must be a dict with ``data`` (uint8
``[n, 3072]``, channel-major rows) and ``labels`` (n ints in 0..9).

``validation_size`` (default 5,000) training images, stratified by class and
drawn with ``seed`` (default 0), form the validation split (45,000 train).
``normalization``: ``"standard"`` (per-channel mean 0.4914/0.4822/0.4465 and
std 0.2470/0.2435/0.2616 of the training set) or ``"unit"`` ([0, 1]); or, with
``image_processor`` (a checkpoint's own), what that processor does:
:mod:`hf_challenger.data.pretrained`.

Columns: ``pixel_values`` float32 ``[3, 32, 32]``, ``labels`` (ClassLabel with the class names).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict

from ._common import check_choice, file_signature, require_file
from ._hub import hub_fingerprints, load_hub_dataset
from .images import NORMALIZATIONS, hub_images_to_arrays, with_validation
from .pretrained import cached_images, image_normalization

HUB_ID = "uoft-cs/cifar10"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
TRAIN_FILES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_FILE = "test_batch"

_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("codecs").encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the CIFAR-10 allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler admitting builtin containers and numpy arrays only (see module docstring)."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"{self._path} refers to {module}.{name}, which a CIFAR-10 batch never needs; refusing to "
                f"load it (allowed: {', '.join(f'{m}.{n}' for m, n in _ALLOWED_GLOBALS)})"
            )
        return allowed


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one python-version batch: uint8 images ``[n, 3, 32, 32]`` and int64 labels ``[n]``."""
    require_file(path, "a CIFAR-10 python batch (pickle)")
    try:
        with open(path, "rb") as handle:
            content = RestrictedUnpickler(handle, path).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch pickle: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path} holds a {type(content).__name__}; expected a dict with 'data' and 'labels'")
    content = {key.decode("latin-1") if isinstance(key, bytes) else key: value for key, value in content.items()}
    if "data" not in content or "labels" not in content:
        raise ValueError(f"{path} lacks key(s) 'data'/'labels' (has {sorted(map(str, content))})")
    data, labels = content["data"], np.asarray(content["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise ValueError(f"{path}: 'data' must be a uint8 array [n, 3072], got {type(data).__name__} {shape}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{path}: 'labels' must be {data.shape[0]} integers, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must lie in 0..9, found {int(labels.min())}..{int(labels.max())}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    train = [read_batch(folder / name) for name in TRAIN_FILES]
    return {
        "train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
        "test": read_batch(folder / TEST_FILE),
    }


def load_cifar10(
    *,
    data_dir: str | os.PathLike | None = None,
    normalization: str | None = None,
    validation_size: int | float = 5000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    image_processor: Any = None,
) -> DatasetDict:
    """CIFAR-10 as train/validation/test with ``pixel_values`` float32 ``[3, 32, 32]`` (or as the
    ``image_processor`` makes them) and ``labels``."""
    processor, normalization = image_normalization(image_processor, normalization)
    if processor is None:
        check_choice("normalization", normalization, NORMALIZATIONS)
    options = {"normalization": normalization, "validation_size": validation_size, "seed": seed}
    if data_dir is not None:
        folder = Path(data_dir)
        paths = [require_file(folder / name, "a CIFAR-10 python batch (data_batch_1..5, test_batch)")
                 for name in (*TRAIN_FILES, TEST_FILE)]
        source_key = {"files": file_signature(paths)}

        def read():
            return with_validation(_read_folder(folder), validation_size, seed)

    else:
        hub = load_hub_dataset(HUB_ID, "cifar10", "data_batch_1..5 and test_batch")
        source_key = {"hub": HUB_ID, "fingerprints": hub_fingerprints(hub)}

        def read():
            raw = {name: hub_images_to_arrays(hub[name], "img", "label", CLASS_NAMES) for name in ("train", "test")}
            return with_validation(raw, validation_size, seed)

    return cached_images(
        "cifar10", read, processor=processor, normalization=normalization, class_names=CLASS_NAMES, mean=MEAN,
        std=STD, pad=0, options=options, source_key=source_key, cache_dir=cache_dir,
    )
