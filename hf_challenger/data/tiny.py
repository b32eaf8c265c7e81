"""Tiny training sets (the paper's "tiny" variants): a few examples per class, stratified and seeded.

``make_tiny(dataset, per_class, seed)`` returns the rows of ``dataset`` picked
from a random permutation made with ``numpy.random.default_rng(seed)``, in
their original order. The same data, ``per_class`` and ``seed`` always give
the same rows. Given a ``DatasetDict``, only its ``train`` split is reduced
(validation and test stay whole, as in the paper's tiny experiments).

Single-label (``labels`` int): exactly ``per_class`` rows of every class.

Multi-label (``labels`` multi-hot ``[C]``): a row counts once for every class
it is positive for. Classes are filled rarest first (fewest positives in
``dataset``; ties by class index): while a class has fewer than ``per_class``
positives among the rows picked so far, the next unpicked positive row of the
permutation is added. Every class so ends with at least ``per_class``
positives; frequent classes get more, because rows picked for rarer classes
carry them too. Rows without any positive label are never picked.

A class with fewer than ``per_class`` rows (positives) is an error naming it,
unless ``strict=False``, which then takes all of its rows and warns.

``cap_per_class(split, at_most, seed)`` shrinks an evaluation split the same way, as a cap: a
class with fewer rows keeps all of them, without a warning (used to cut the cost of evaluating
many runs; the rows kept are the same for every training seed).
"""

from __future__ import annotations

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict

from ._common import check_positive_int, get_metadata, warn_caller


def _class_names(dataset: Dataset, n_classes: int) -> list[str]:
    feature = dataset.features.get("labels")
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    try:
        return list(get_metadata(dataset)["label_names"])
    except (ValueError, KeyError):
        return [str(i) for i in range(n_classes)]


def _pick_single(
    labels: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, int]]:
    order = rng.permutation(labels.shape[0])
    picked, short = [], {}
    for cls in range(n_classes):
        members = order[labels[order] == cls]
        picked.append(members[:per_class])
        if len(members) < per_class:
            short[int(cls)] = len(members)
    return np.concatenate(picked), short


def _pick_multi(hot: np.ndarray, per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[int, int]]:
    positive = hot > 0
    order = rng.permutation(positive.shape[0])
    chosen = np.zeros(positive.shape[0], dtype=bool)
    counts = np.zeros(positive.shape[1], dtype=np.int64)
    short = {}
    for cls in np.argsort(positive.sum(axis=0), kind="stable"):
        need = per_class - counts[cls]
        if need <= 0:
            continue
        candidates = order[positive[order, cls] & ~chosen[order]]
        pick = candidates[:need]
        chosen[pick] = True
        counts += positive[pick].sum(axis=0)
        if counts[cls] < per_class:
            short[int(cls)] = int(counts[cls])
    return np.flatnonzero(chosen), short


def _picked_rows(dataset: Dataset, per_class: int, seed: int) -> tuple[np.ndarray, dict[int, int], int]:
    """Rows ``[n]`` picked per class, the classes left short (class -> count) and the class count."""
    if "labels" not in dataset.column_names:
        raise ValueError(f"a per-class subset needs a 'labels' column; the dataset has {dataset.column_names}")
    labels = np.asarray(dataset.with_format("numpy")["labels"][:])
    rng = np.random.default_rng(seed)
    if labels.ndim == 1:
        feature = dataset.features["labels"]
        n_classes = feature.num_classes if isinstance(feature, ClassLabel) else int(labels.max(initial=-1)) + 1
        rows, short = _pick_single(labels.astype(np.int64), n_classes, per_class, rng)
        return rows, short, n_classes
    if labels.ndim == 2:
        rows, short = _pick_multi(labels, per_class, rng)
        return rows, short, labels.shape[1]
    raise ValueError(f"labels must be int [N] or multi-hot [N, C]; got shape {labels.shape}")


def cap_per_class(dataset: Dataset, at_most: int, seed: int = 0) -> Dataset:
    """At most ``at_most`` rows per class of an evaluation split (all rows of a smaller class).

    Args:
        dataset: a split with a ``labels`` column (int ``[N]`` or multi-hot ``[N, C]``; multi-hot
            rows are filled rarest class first, as in ``make_tiny``).
        at_most: rows (positives) per class, >= 1.
        seed: seed of the permutation.

    Returns:
        The subset, rows in their original order.
    """
    check_positive_int("at_most", at_most)
    rows, _, _ = _picked_rows(dataset, at_most, seed)
    return dataset.select(np.sort(rows))


def make_tiny(dataset: Dataset | DatasetDict, per_class: int, seed: int = 0, *, strict: bool = True):
    """Stratified, seeded subset with ``per_class`` examples per class (rules in the module docstring).

    Args:
        dataset: a split with a ``labels`` column (int ``[N]`` or multi-hot ``[N, C]``), or a
            DatasetDict whose ``train`` split is reduced.
        per_class: examples (positives, for multi-label) per class, >= 1.
        seed: seed of the permutation.
        strict: raise (True) or warn (False) when a class has fewer examples than ``per_class``.

    Returns:
        The subset, same type as ``dataset``.
    """
    check_positive_int("per_class", per_class)
    if isinstance(dataset, DatasetDict):
        if "train" not in dataset:
            raise ValueError(f"make_tiny reduces the 'train' split; this DatasetDict has {list(dataset)}")
        return DatasetDict({name: make_tiny(split, per_class, seed, strict=strict) if name == "train" else split
                            for name, split in dataset.items()})
    rows, short, n_classes = _picked_rows(dataset, per_class, seed)
    if short:
        names = _class_names(dataset, n_classes)
        detail = ", ".join(f"{names[c]!r} has {n}" for c, n in short.items())
        message = f"make_tiny(per_class={per_class}): too few examples: {detail}"
        if strict:
            raise ValueError(message + "; lower per_class or pass strict=False to take what exists")
        warn_caller(message + "; took all of them")
    return dataset.select(np.sort(rows))
