"""Benchmarks through a checkpoint's own preprocessing: its tokenizer (text) or image processor (images).

``load_benchmark("20newsgroups" | "reuters", ..., tokenizer=T)`` and
``load_benchmark("mnist" | "cifar10", ..., image_processor=P)``; ``T`` and ``P`` are a
``transformers`` tokenizer / image processor, or a Hub id or folder that
``AutoTokenizer`` / ``AutoImageProcessor`` loads (with ``trust_remote_code=False``: a folder
that ships its own code is refused; load such a processor yourself and pass the object). The
documents, images, labels and
splits are exactly those of the word-level / normalised path; only the encoding differs.

Text: each document is encoded by the tokenizer with its special tokens, truncated to
``max_length`` tokens (default: the tokenizer's ``model_max_length``; an unbounded one
needs an explicit ``max_length``) and NOT padded: ``input_ids`` and ``attention_mask``
(and ``token_type_ids`` where the tokenizer makes them) are int64 lists of each
document's own length, so a collator pads each batch to its longest row
(``DataCollatorWithPadding``; ``ChallengerTrainer`` gets it by default when the
tokenizer is passed as ``processing_class``). The metadata records the tokenizer
(``tokenizer``: class, ``name_or_path``, ``vocab_size`` = ``len(tokenizer)``) and per
split how many documents reached ``max_length`` (``truncated``: cut, or exactly that
long). The cache key includes a hash of the tokenizer's saved files.

Images: the split arrays are stored as uint8 ``[C, H, W]`` under ``pixel_values`` and
the processor runs when rows are read (``Dataset.with_transform``), so the cache stays
small whatever size the checkpoint expects (224 x 224 x 3 floats for all of CIFAR-10
would be 36 GB). Reading gives ``pixel_values`` float32 ``[C', S, S']`` resized and
normalised by the processor. Grey images (MNIST) become 3 identical channels when the
processor normalises 3 channels (its ``image_mean`` has 3 entries); colour images with a
one-channel processor are an error. The metadata records the processor (``image_processor``:
class, size, mean, std, channels). The transform survives ``select``/``remove_columns``
(so ``make_tiny`` and ``Trainer``), not ``save_to_disk`` (reapply :func:`with_image_processor`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Array3D, ClassLabel, Dataset, DatasetDict, Features, List, Value
from tqdm.auto import tqdm

from ._common import check_positive_int, get_metadata, make_info, write_split

#: Tokenizer outputs kept as columns (when the tokenizer makes them).
TEXT_COLUMNS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 512
_UNBOUNDED = 10**9  # transformers' "no limit" model_max_length is about 1e30


def _resolve(value: Any, name: str, base_class: type, auto_class: type, trust_remote_code: bool) -> Any:
    """``value`` if it is a ``base_class`` instance, else what ``auto_class`` loads from it (a Hub id / folder),
    with ``trust_remote_code`` passed explicitly (so transformers never asks on stdin).

    Raises:
        ValueError: naming ``name`` and the value when it is neither, or when nothing loads from it.
    """
    if isinstance(value, base_class):
        return value
    article = "an" if name[0] in "aeiou" else "a"
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(
            f"{name} must be a transformers {name.replace('_', ' ')} or a Hub id / folder that "
            f"{auto_class.__name__} loads; got {value!r}"
        )
    try:
        return auto_class.from_pretrained(str(value), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"could not load {article} {name.replace('_', ' ')} from {str(value)!r} with {auto_class.__name__}: {error}"
        ) from error


def resolve_tokenizer(tokenizer: Any, trust_remote_code: bool = False) -> Any:
    """A tokenizer object from ``tokenizer`` (an instance, or a Hub id / folder for ``AutoTokenizer``;
    custom tokenizer code in that folder runs only with ``trust_remote_code=True``)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerBase

    return _resolve(tokenizer, "tokenizer", PreTrainedTokenizerBase, AutoTokenizer, trust_remote_code)


def resolve_image_processor(image_processor: Any, trust_remote_code: bool = False) -> Any:
    """An image processor from ``image_processor`` (an instance, or a Hub id / folder for ``AutoImageProcessor``;
    custom processor code there runs only with ``trust_remote_code=True``)."""
    from transformers import AutoImageProcessor
    from transformers.image_processing_utils import BaseImageProcessor

    return _resolve(image_processor, "image_processor", BaseImageProcessor, AutoImageProcessor, trust_remote_code)


def processor_fingerprint(processor: Any) -> str:
    """SHA-256 (16 hex digits) of the files ``processor.save_pretrained`` writes, and its class name."""
    digest = hashlib.sha256(type(processor).__name__.encode())
    with tempfile.TemporaryDirectory() as folder:
        processor.save_pretrained(folder)
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tokenizer_max_length(tokenizer: Any, max_length: int | None) -> int:
    """``max_length``, or the tokenizer's ``model_max_length`` when None (refused when unbounded)."""
    if max_length is not None:
        return check_positive_int("max_length", max_length)
    limit = getattr(tokenizer, "model_max_length", None)
    if not isinstance(limit, int) or limit >= _UNBOUNDED or limit < 1:
        raise ValueError(
            f"the tokenizer {getattr(tokenizer, 'name_or_path', '')!r} sets no usable model_max_length "
            f"({limit!r}): give max_length (tokens per document, at most the model's position embeddings)"
        )
    return limit


def build_tokenized_dataset_dict(
    splits: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    tokenizer: Any,
    max_length: int,
    label_names: Sequence[str],
    metadata: Mapping[str, Any],
    scratch: Path,
) -> DatasetDict:
    """Encode each split's texts with ``tokenizer`` (module docstring) and write them unpadded.

    ``splits`` maps split name to (texts ``[N]``, labels: int ``[N]`` or multi-hot ``[N, C]``).
    """
    multi_label = splits["train"][1].ndim == 2
    probe = tokenizer(["probe"], truncation=True, max_length=max_length)
    columns = [name for name in TEXT_COLUMNS if name in probe]
    if "input_ids" not in columns:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} gives no input_ids; columns: {sorted(probe)}")
    labels_feature = (
        List(Value("float32"), length=len(label_names)) if multi_label else ClassLabel(names=list(label_names))
    )
    features = Features({**{name: List(Value("int64")) for name in columns}, "labels": labels_feature})
    truncated: dict[str, int] = {}
    encoded: dict[str, list[dict[str, Any]]] = {}
    for name, (texts, labels) in splits.items():
        batches, count = [], 0
        progress = tqdm(range(0, len(texts), _BATCH), desc=f"tokenising {metadata['benchmark']} {name}", unit="batch")
        for start in progress:
            chunk = tokenizer(list(texts[start : start + _BATCH]), truncation=True, max_length=max_length)
            count += sum(len(ids) >= max_length for ids in chunk["input_ids"])
            batch = {column: chunk[column] for column in columns}
            batch["labels"] = labels[start : start + _BATCH].astype(np.float32 if multi_label else np.int64)
            batches.append(batch)
        truncated[name] = int(count)
        encoded[name] = batches
    full_metadata = {
        **metadata,
        "label_names": list(label_names),
        "problem_type": "multi_label_classification" if multi_label else "single_label_classification",
        "tokenizer": {
            "class": type(tokenizer).__name__,
            "name_or_path": str(getattr(tokenizer, "name_or_path", "")),
            "vocab_size": len(tokenizer),
            "max_length": max_length,
        },
        "truncated": truncated,
    }
    return DatasetDict(
        {name: write_split(scratch, name, features, full_metadata, encoded[name]) for name in splits}
    )


def build_raw_image_dataset_dict(
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    class_names: Sequence[str],
    pad: int,
    metadata: Mapping[str, Any],
    scratch: Path,
) -> DatasetDict:
    """Write uint8 images ``[N, C, H, W]`` (``pad`` black pixels added on every side) and labels ``[N]``."""
    channels, height, width = splits["train"][0].shape[1:]
    features = Features(
        {
            "pixel_values": Array3D((channels, height + 2 * pad, width + 2 * pad), "uint8"),
            "labels": ClassLabel(names=list(class_names)),
        }
    )
    full_metadata = {
        **metadata,
        "label_names": list(class_names),
        "problem_type": "single_label_classification",
        "raw_images": {"dtype": "uint8", "pad": pad},
    }

    def batches(images: np.ndarray, labels: np.ndarray):
        for start in range(0, len(labels), 2048):
            batch = images[start : start + 2048]
            if pad:
                batch = np.pad(batch, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
            yield {"pixel_values": batch.astype(np.uint8), "labels": labels[start : start + 2048].astype(np.int64)}

    return DatasetDict(
        {
            name: write_split(scratch, name, features, full_metadata, batches(images, labels))
            for name, (images, labels) in splits.items()
        }
    )


def processor_channels(processor: Any) -> int | None:
    """Channels the processor normalises (length of its ``image_mean``), or None when it does not say."""
    mean = getattr(processor, "image_mean", None)
    if isinstance(mean, (list, tuple)):
        return len(mean)
    return None


class ImageProcessorTransform:
    """``Dataset.with_transform`` function: uint8 ``pixel_values`` ``[C, H, W]`` rows -> the processor's
    float32 ``pixel_values`` (grey repeated to ``channels`` when the processor needs 3)."""

    def __init__(self, processor: Any, channels: int) -> None:
        self.processor = processor
        self.channels = channels

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, Any]:
        if "pixel_values" not in batch:
            return batch
        images = []
        for image in batch["pixel_values"]:
            array = np.asarray(image, dtype=np.uint8).transpose(1, 2, 0)  # [H, W, C]
            if array.shape[2] != self.channels:
                array = np.repeat(array, self.channels, axis=2)
            images.append(array)
        processed = self.processor(images=images, return_tensors="pt", input_data_format="channels_last")
        return {**batch, "pixel_values": processed["pixel_values"].float()}


def with_image_processor(datasets: DatasetDict, image_processor: Any) -> DatasetDict:
    """``datasets`` (uint8 ``pixel_values`` from :func:`build_raw_image_dataset_dict`) read through
    ``image_processor`` (module docstring); the metadata gains ``image_processor``.

    Raises:
        ValueError: when the images have more channels than the processor normalises.
    """
    processor = resolve_image_processor(image_processor)
    stored = next(iter(datasets.values())).features["pixel_values"].shape[0]
    wanted = processor_channels(processor) or stored
    if stored != wanted and stored != 1:
        raise ValueError(
            f"the images have {stored} channels but the image processor {type(processor).__name__} normalises "
            f"{wanted} (image_mean={processor.image_mean!r}); use a processor for {stored}-channel images"
        )
    metadata = get_metadata(datasets)
    metadata["image_processor"] = {
        "class": type(processor).__name__,
        "size": {k: v for k, v in dict(getattr(processor, "size", None) or {}).items() if v is not None},
        "image_mean": list(getattr(processor, "image_mean", None) or []),
        "image_std": list(getattr(processor, "image_std", None) or []),
        "channels": wanted,
    }
    transform = ImageProcessorTransform(processor, wanted)
    result = {}
    for name, split in datasets.items():
        relabelled = Dataset(split.data, info=make_info(split.features, metadata), split=split.split)
        result[name] = relabelled.with_transform(transform)
    return DatasetDict(result)


# --------------------------------------------------------------------------- loader hooks


class TextEncoding:
    """How a text loader encodes documents: the word-level vocabulary (``tokenizer=None``) or a
    tokenizer. Built by :func:`text_encoding`; ``options`` enter the metadata and the cache key."""

    def __init__(self, tokenizer: Any, max_length: int, vocab_size: int | None, min_frequency: int | None) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency

    @property
    def options(self) -> dict[str, Any]:
        if self.tokenizer is None:
            return {"max_length": self.max_length, "vocab_size": self.vocab_size, "min_frequency": self.min_frequency}
        return {"max_length": self.max_length, "tokenizer": processor_fingerprint(self.tokenizer)}

    def build(
        self,
        splits: Mapping[str, tuple[Sequence[str], np.ndarray]],
        *,
        label_names: Sequence[str],
        metadata: Mapping[str, Any],
        scratch: Path,
    ) -> DatasetDict:
        """The split texts encoded (``splits``: name -> (texts ``[N]``, labels ``[N]`` or ``[N, C]``))."""
        if self.tokenizer is None:
            from .text import build_text_dataset_dict

            return build_text_dataset_dict(
                splits, label_names=label_names, max_length=self.max_length, min_frequency=self.min_frequency,
                vocab_size=self.vocab_size, metadata=metadata, scratch=scratch,
            )  # fmt: skip
        return build_tokenized_dataset_dict(
            splits, tokenizer=self.tokenizer, max_length=self.max_length, label_names=label_names,
            metadata=metadata, scratch=scratch,
        )  # fmt: skip


def text_encoding(
    tokenizer: Any, max_length: int | None, vocab_size: int | None, min_frequency: int | None
) -> TextEncoding:
    """Resolve a text loader's encoding options.

    Without a tokenizer: ``max_length`` 400, ``vocab_size`` 20,000 and ``min_frequency`` 2 by
    default. With one: ``max_length`` defaults to its ``model_max_length``, and ``vocab_size`` /
    ``min_frequency`` (which build the word vocabulary) are refused: the tokenizer has its own.
    """
    if tokenizer is None:
        return TextEncoding(
            None,
            check_positive_int("max_length", 400 if max_length is None else max_length),
            20000 if vocab_size is None else vocab_size,
            2 if min_frequency is None else min_frequency,
        )
    pairs = (("vocab_size", vocab_size), ("min_frequency", min_frequency))
    given = {name: value for name, value in pairs if value is not None}
    if given:
        raise ValueError(
            f"{', '.join(f'{k}={v!r}' for k, v in given.items())} build the word-level vocabulary and do not apply "
            "with a tokenizer (it brings its own vocabulary); remove them"
        )
    resolved = resolve_tokenizer(tokenizer)
    return TextEncoding(resolved, tokenizer_max_length(resolved, max_length), None, None)


def image_normalization(image_processor: Any, normalization: str | None) -> tuple[Any, str | None]:
    """``(processor or None, normalization)``: without a processor ``normalization`` defaults to
    ``"standard"``; with one it is refused (the processor normalises with its own mean and std)."""
    if image_processor is None:
        return None, "standard" if normalization is None else normalization
    if normalization is not None:
        raise ValueError(
            f"normalization={normalization!r} does not apply with an image_processor (it rescales and normalises "
            "with its own mean and std); remove it"
        )
    return resolve_image_processor(image_processor), None


def cached_images(
    benchmark: str,
    read: Any,
    *,
    processor: Any,
    normalization: str | None,
    class_names: Sequence[str],
    mean: Sequence[float],
    std: Sequence[float],
    pad: int,
    options: Mapping[str, Any],
    source_key: Mapping[str, Any],
    cache_dir: str | os.PathLike | None,
) -> DatasetDict:
    """An image benchmark from ``read()`` (split -> (uint8 ``[N, C, H, W]``, labels ``[N]``)), cached:
    normalised float32 without a processor, else uint8 read through the processor."""
    from ._common import cached_dataset_dict
    from .images import image_builder

    metadata = {"benchmark": benchmark, "options": dict(options)}
    if processor is None:
        build = image_builder(
            read, class_names=class_names, mean=mean, std=std, normalization=normalization, pad=pad, metadata=metadata
        )
        return cached_dataset_dict(benchmark, {**options, **source_key}, build, cache_dir)

    def build_raw(scratch: Path) -> DatasetDict:
        return build_raw_image_dataset_dict(
            read(), class_names=class_names, pad=pad, metadata=metadata, scratch=scratch
        )

    raw = cached_dataset_dict(benchmark, {**options, **source_key, "raw_uint8": True}, build_raw, cache_dir)
    return with_image_processor(raw, processor)
