"""GloVe word vectors for the text CNN's embedding, read from a standard GloVe text file.

Nothing is downloaded. Get e.g. ``glove.6B.100d.txt`` (the paper's 100-d
vectors) from https://nlp.stanford.edu/projects/glove/ and either pass its
path, or set ``HF_CHALLENGER_GLOVE`` to it, or put it at
``~/.cache/hf_challenger/glove/glove.6B.<dim>d.txt``. The file (one
``word v1 ... vd`` line per word, no header) is read with gensim's
``KeyedVectors.load_word2vec_format(path, binary=False, no_header=True)``.

Embedding matrix for a :class:`~hf_challenger.data.text.Vocabulary` (``[V, d]``
float32, row i = token i): row 0 (``<pad>``) is zero; a token found in GloVe
gets its vector; ``<unk>`` and tokens GloVe lacks (out of vocabulary) get,
with ``oov="random"`` (default), a draw from N(0, s^2) where s is the standard
deviation of all GloVe vector entries, from a generator seeded with ``seed``
(so they are distinct and trainable if the embedding is unfrozen), or zeros with
``oov="zeros"``. Usage::

    dsd = load_benchmark("reuters", data_dir=...)
    vocab = get_vocabulary(dsd)
    matrix = glove_embedding_matrix(vocab, "glove.6B.100d.txt")   # [len(vocab), 100]
    # TextCNNConfig(vocab_size=len(vocab), embedding_dim=matrix.shape[1], ...) + the matrix
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ._common import check_choice
from .text import OOV_ID, PAD_ID, Vocabulary

logger = logging.getLogger(__name__)

GLOVE_ENV = "HF_CHALLENGER_GLOVE"
OOV_POLICIES = ("random", "zeros")


def default_glove_path(dim: int = 100) -> Path:
    """``$HF_CHALLENGER_GLOVE`` if set, else ``~/.cache/hf_challenger/glove/glove.6B.<dim>d.txt``."""
    if os.environ.get(GLOVE_ENV):
        return Path(os.environ[GLOVE_ENV])
    return Path.home() / ".cache" / "hf_challenger" / "glove" / f"glove.6B.{dim}d.txt"


def load_glove(path: str | os.PathLike | None = None, *, dim: int = 100):
    """Read a GloVe text file into gensim ``KeyedVectors`` (``path`` None: :func:`default_glove_path`)."""
    from gensim.models import KeyedVectors

    path = Path(path) if path is not None else default_glove_path(dim)
    if not path.is_file():
        raise FileNotFoundError(
            f"GloVe vectors not found at {path}: expected a GloVe text file (e.g. glove.6B.{dim}d.txt from "
            f"https://nlp.stanford.edu/projects/glove/); pass its path or set {GLOVE_ENV}"
        )
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
    except (ValueError, UnicodeDecodeError, IndexError) as error:
        raise ValueError(f"{path} is not a GloVe text file ('word v1 ... vd' per line): {error}") from error


def glove_embedding_matrix(
    vocabulary: Vocabulary,
    glove=None,
    *,
    oov: str = "random",
    seed: int = 0,
) -> np.ndarray:
    """Embedding matrix float32 ``[len(vocabulary), d]`` for ``vocabulary`` (policy in module docstring).

    ``glove``: gensim ``KeyedVectors``, a path to a GloVe text file, or None for :func:`default_glove_path`.
    """
    check_choice("oov", oov, OOV_POLICIES)
    vectors = glove if hasattr(glove, "key_to_index") else load_glove(glove)
    table = np.asarray(vectors.vectors, dtype=np.float32)
    rows = np.array([vectors.key_to_index.get(token, -1) for token in vocabulary.tokens], dtype=np.int64)
    rows[[PAD_ID, OOV_ID]] = -1
    found = rows >= 0
    matrix = np.zeros((len(vocabulary), table.shape[1]), dtype=np.float32)
    matrix[found] = table[rows[found]]
    missing = ~found
    missing[PAD_ID] = False
    if oov == "random":
        scale = float(table.std())
        matrix[missing] = np.random.default_rng(seed).normal(0.0, scale, (int(missing.sum()), table.shape[1]))
    logger.info("GloVe covers %d of %d vocabulary entries (%d out of vocabulary incl. <unk>)",
                int(found.sum()), len(vocabulary), int(missing.sum()))
    return matrix
