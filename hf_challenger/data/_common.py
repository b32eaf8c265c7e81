"""Helpers shared by the benchmark loaders: option checks, splits, metadata, caching.

Metadata. Every ``DatasetDict`` that :func:`hf_challenger.data.load_benchmark`
returns carries a small JSON document in each split's ``info.description``
(``{"hf_challenger": {...}}``): the benchmark name, the label names, the
options used and, per benchmark, the text vocabulary or the ECG
standardisation statistics. It travels with the data through ``select``,
``map``, ``save_to_disk``/``load_from_disk``; read it with
:func:`get_metadata`.

Cache. Conversions that take more than a few seconds (image arrays, text
tokenisation, PTB-XL records) are written once as Arrow files under
``<cache_dir>/<benchmark>/<key>/`` with ``DatasetDict.save_to_disk`` and
memory-mapped with ``load_from_disk`` afterwards. ``cache_dir`` defaults to
``$HF_DATASETS_CACHE/hf_challenger``; the key hashes the source files' paths,
sizes and modification times (or the Hub dataset's fingerprint), every
option, and a format version of this package, so a changed file or option
builds a fresh copy. A build is written to a temporary folder and renamed
into place, so an interrupted build leaves no half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, DatasetInfo, Features
from datasets import config as datasets_config
from datasets.arrow_writer import ArrowWriter

logger = logging.getLogger(__name__)

#: Bumped whenever a loader's output changes for the same inputs; part of every cache key.
CACHE_FORMAT_VERSION = 1
SPLITS = ("train", "validation", "test")
_METADATA_KEY = "hf_challenger"


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ``ValueError`` naming ``value`` and the allowed values unless ``value`` is allowed."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed: {', '.join(map(repr, allowed))}")


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` if it is an int >= 1 (not a bool), else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; expected an integer >= 1")
    return int(value)


def resolve_split_size(name: str, size: int | float, total: int) -> int:
    """Turn ``size`` (count, or fraction in (0, 1)) into a count in [1, total - 1]."""
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={size!r} is not allowed; expected an int count or a float fraction in (0, 1)")
    if isinstance(size, (float, np.floating)):
        if not 0.0 < size < 1.0:
            raise ValueError(f"{name}={size!r} is not allowed; a fraction must lie in (0, 1)")
        count = int(round(size * total))
    else:
        count = int(size)
    if not 1 <= count < total:
        raise ValueError(f"{name}={size!r} gives {count} of {total} examples; it must leave 1..{total - 1} in the split")
    return count


def stratified_split(keys: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (kept, held_out) with ``len(held_out) == size``, stratified by ``keys``.

    Args:
        keys: int array ``[N]``, the stratum of each row (the class for single-label data).
        size: number of held-out rows, ``1 <= size < N``.
        seed: seed of the numpy generator that shuffles each stratum.

    Each stratum gives ``size * n_k / N`` rows rounded by largest remainder, but never
    its last row (a class seen once stays in the kept part). Returns two sorted
    int64 index arrays.
    """
    keys = np.asarray(keys)
    n = keys.shape[0]
    strata, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    quota = counts * (size / n)
    take = np.minimum(np.floor(quota).astype(np.int64), counts - 1)
    remainder = quota - take
    capacity = counts - 1 - take
    for stratum in np.argsort(-remainder, kind="stable"):
        if take.sum() >= size:
            break
        if capacity[stratum] > 0:
            take[stratum] += 1
            capacity[stratum] -= 1
    if take.sum() < size:  # quotas exhausted by the keep-one rule: fill from the largest strata
        for stratum in np.argsort(-capacity, kind="stable"):
            extra = min(int(capacity[stratum]), size - int(take.sum()))
            take[stratum] += extra
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    # rank of each row inside its stratum after the shuffle
    shuffled_strata = inverse[order]
    sort = np.argsort(shuffled_strata, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank_sorted = np.arange(n) - np.repeat(starts, counts)
    rank = np.empty(n, dtype=np.int64)
    rank[order[sort]] = rank_sorted
    held = rank < take[inverse]
    return np.flatnonzero(~held), np.flatnonzero(held)


def multilabel_strata(multi_hot: np.ndarray) -> np.ndarray:
    """Stratum per row of a multi-hot matrix ``[N, C]``: its rarest positive class (``-1`` if none)."""
    positives = multi_hot > 0
    frequency = positives.sum(axis=0)
    ranked = np.where(positives, frequency[None, :], np.iinfo(np.int64).max)
    strata = ranked.argmin(axis=1)
    return np.where(positives.any(axis=1), strata, -1)


def make_info(features: Features, metadata: Mapping[str, Any]) -> DatasetInfo:
    """A ``DatasetInfo`` whose description holds ``metadata`` as JSON (see module docstring)."""
    return DatasetInfo(description=json.dumps({_METADATA_KEY: dict(metadata)}), features=features)


def get_metadata(dataset: Dataset | DatasetDict) -> dict[str, Any]:
    """The metadata a loader attached to ``dataset`` (a split, or a DatasetDict: its first split).

    Keys: ``benchmark``, ``label_names`` (list of str), ``problem_type``
    (``"single_label_classification"`` or ``"multi_label_classification"``),
    ``options``; images: ``normalization`` (kind, mean, std, pad); text:
    ``vocabulary`` (token list, id = position) and ``truncated`` (documents
    longer than ``max_length`` per split); Reuters also ``modapte_documents``;
    Reuters and PTB-XL: ``dropped`` (documents/records left out by policy, per
    split); PTB-XL: ``standardization`` (kind, per-lead mean and std). Raises
    ``ValueError`` if the dataset did not come from
    :func:`hf_challenger.data.load_benchmark`.
    """
    split = next(iter(dataset.values())) if isinstance(dataset, DatasetDict) else dataset
    try:
        document = json.loads(split.info.description or "")
        return document[_METADATA_KEY]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            "this dataset carries no hf_challenger metadata in info.description; "
            "it was not produced by hf_challenger.data.load_benchmark"
        ) from error


def file_signature(paths: Sequence[Path]) -> list[tuple[str, int, int]]:
    """(absolute path, size, mtime_ns) per file: what the cache key knows about the inputs."""
    signature = []
    for path in paths:
        stat = Path(path).stat()
        signature.append((str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns))
    return signature


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, or ``$HF_DATASETS_CACHE/hf_challenger`` when None."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(datasets_config.HF_DATASETS_CACHE) / "hf_challenger"


def cache_key(parts: Mapping[str, Any]) -> str:
    """Stable 16-hex-digit hash of ``parts`` (JSON-serialisable) and the cache format version."""
    payload = json.dumps({"format": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def cached_dataset_dict(
    benchmark: str,
    key_parts: Mapping[str, Any],
    build: Callable[[Path], DatasetDict],
    cache_dir: str | os.PathLike | None,
) -> DatasetDict:
    """Load the cached DatasetDict for ``key_parts``, building and saving it first if absent.

    ``build(scratch_dir)`` gets an empty folder for intermediate files (deleted
    afterwards) and returns the DatasetDict to store.
    """
    target = cache_root(cache_dir) / benchmark / cache_key(key_parts)
    if (target / "dataset_dict.json").is_file():
        logger.info("hf_challenger: loading %s from cache %s", benchmark, target)
        return _load_cache(benchmark, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f"{target.name}.partial-{os.getpid()}"
    scratch = target.parent / f"{target.name}.scratch-{os.getpid()}"
    for folder in (staging, scratch):
        shutil.rmtree(folder, ignore_errors=True)
    scratch.mkdir()
    try:
        build(scratch).save_to_disk(str(staging))
        try:
            os.replace(staging, target)
        except OSError:  # another process finished the same build first
            if not (target / "dataset_dict.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("hf_challenger: cached %s at %s", benchmark, target)
    return _load_cache(benchmark, target)


def _load_cache(benchmark: str, target: Path) -> DatasetDict:
    """``load_from_disk(target)``; a truncated or corrupt cache is an error naming the folder to delete.

    (A build is renamed into place only when complete, so such a cache was damaged afterwards, e.g. by a
    full disk, an interrupted copy or a manual edit.)
    """
    try:
        return DatasetDict.load_from_disk(str(target))
    except (OSError, ValueError, KeyError, TypeError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise CorruptCacheError(
            f"the cached {benchmark} dataset in {target} cannot be read ({type(error).__name__}: {error}); it is "
            f"truncated or corrupt. Delete the folder {target} and load again: it is rebuilt from the source files"
        ) from error


class CorruptCacheError(ValueError):
    """A cached dataset folder exists but cannot be read; the message names the folder to delete."""


def write_split(
    scratch: Path,
    name: str,
    features: Features,
    metadata: Mapping[str, Any],
    batches: Iterable[Mapping[str, Any]],
) -> Dataset:
    """Write ``batches`` (column name -> array of a batch of rows) to ``scratch/<name>.arrow``.

    Memory stays bounded by one batch; the returned Dataset is memory-mapped
    and carries ``metadata`` (see :func:`make_info`).
    """
    path = scratch / f"{name}.arrow"
    writer = ArrowWriter(features=features, path=str(path))
    try:
        for batch in batches:
            writer.write_batch(dict(batch))
        writer.finalize()
    finally:
        writer.close()
    return Dataset.from_file(str(path), info=make_info(features, metadata))


def warn_caller(message: str) -> None:
    """``warnings.warn(message)`` attributed to the first caller outside ``hf_challenger.data``."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(0), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise ``FileNotFoundError`` naming it and ``what``."""
    if not path.is_file():
        raise FileNotFoundError(f"missing file {path}: expected {what}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else raise ``FileNotFoundError`` naming it and ``what``."""
    if not path.is_dir():
        raise FileNotFoundError(f"missing folder {path}: expected {what}")
    return path
