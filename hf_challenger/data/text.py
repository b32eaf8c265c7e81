"""Text pipeline shared by Reuters and 20 Newsgroups: tokeniser, vocabulary, fixed-length ids.

Tokenisation: lower-case, then every maximal run of letters and digits
(Unicode, so ``"café"`` is one token), with an optional apostrophe suffix
(``"don't"``, ``"reuter's"``), is a token (regular expression
:data:`TOKEN_PATTERN`); punctuation, underscores and other characters
separate tokens and are dropped. Lower-case words match the GloVe 6B vectors.

Vocabulary (:class:`Vocabulary`), built on the TRAIN split only: index 0 is
``<pad>``, index 1 is ``<unk>`` (out of vocabulary), then the tokens seen at
least ``min_frequency`` times (default 2) in training documents, most frequent
first (ties alphabetical), cut so the vocabulary has at most ``vocab_size``
entries (default 20,000, counting ``<pad>`` and ``<unk>``). Tokens of
validation/test documents that are not in it map to 1.

Sequences: the first ``max_length`` tokens of a document (default 400),
right-padded with 0; ``attention_mask`` is 1 on real tokens. How many
documents were truncated is recorded in the metadata (``truncated``).

Columns: ``input_ids`` int64 ``[max_length]``, ``attention_mask`` int64
``[max_length]``, ``labels`` (ClassLabel, or float32 multi-hot ``[C]`` for
multi-label data). The vocabulary travels with the dataset: get it back with
:func:`get_vocabulary` and pass it to
:func:`hf_challenger.data.glove.glove_embedding_matrix`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from tqdm.auto import tqdm

from ._common import check_positive_int, get_metadata, write_split

TOKEN_PATTERN = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
PAD_TOKEN, OOV_TOKEN = "<pad>", "<unk>"
PAD_ID, OOV_ID = 0, 1
_BATCH = 1024


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and return its tokens (see module docstring)."""
    return TOKEN_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Token list with ``tokens[0] == "<pad>"`` and ``tokens[1] == "<unk>"``; id = position."""

    tokens: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD_TOKEN, OOV_TOKEN):
            raise ValueError(f"a Vocabulary starts with {PAD_TOKEN!r}, {OOV_TOKEN!r}; got {self.tokens[:2]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("Vocabulary tokens must be unique")
        object.__setattr__(self, "_index", {token: i for i, token in enumerate(self.tokens)})

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], *, min_frequency: int = 2, vocab_size: int = 20000) -> Vocabulary:
        """Count tokens over ``documents`` (token lists) and keep the frequent ones (module docstring)."""
        check_positive_int("min_frequency", min_frequency)
        if check_positive_int("vocab_size", vocab_size) < 3:
            raise ValueError(f"vocab_size={vocab_size!r} is not allowed; it must be >= 3 (pad, unk, one token)")
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        ranked = sorted((item for item in counts.items() if item[1] >= min_frequency), key=lambda kv: (-kv[1], kv[0]))
        kept = [token for token, _ in ranked[: vocab_size - 2]]
        return cls((PAD_TOKEN, OOV_TOKEN, *kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def token_to_id(self, token: str) -> int:
        """Id of ``token``, or 1 (``<unk>``) when it is not in the vocabulary."""
        return self._index.get(token, OOV_ID)

    def encode(self, tokens: Sequence[str], max_length: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and mask, each int64 ``[max_length]``: first ``max_length`` tokens, right-padded with 0."""
        ids = np.zeros(max_length, dtype=np.int64)
        kept = [self._index.get(token, OOV_ID) for token in tokens[:max_length]]
        ids[: len(kept)] = kept
        mask = np.zeros(max_length, dtype=np.int64)
        mask[: len(kept)] = 1
        return ids, mask

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, padding (0) left out."""
        return [self.tokens[i] for i in ids if i != PAD_ID]


def get_vocabulary(dataset: Dataset | DatasetDict) -> Vocabulary:
    """The vocabulary a text loader built for ``dataset`` (any split of the DatasetDict, or the dict)."""
    metadata = get_metadata(dataset)
    if "vocabulary" not in metadata:
        raise ValueError(f"benchmark {metadata.get('benchmark')!r} is not a text benchmark; it has no vocabulary")
    return Vocabulary(tuple(metadata["vocabulary"]))


def text_features(max_length: int, label_names: Sequence[str], multi_label: bool) -> Features:
    """Features of a text split (module docstring)."""
    labels = List(Value("float32"), length=len(label_names)) if multi_label else ClassLabel(names=list(label_names))
    return Features(
        {
            "input_ids": List(Value("int64"), length=max_length),
            "attention_mask": List(Value("int64"), length=max_length),
            "labels": labels,
        }
    )


def build_text_dataset_dict(
    splits: Mapping[str, tuple[Sequence[str], np.ndarray]],
    *,
    label_names: Sequence[str],
    max_length: int,
    min_frequency: int,
    vocab_size: int,
    metadata: Mapping[str, Any],
    scratch: Path,
) -> DatasetDict:
    """Tokenise the texts of each split, build the vocabulary on ``splits["train"]``, write fixed-length ids.

    ``splits`` maps split name to (texts ``[N]``, labels: int ``[N]`` or multi-hot ``[N, C]``).
    """
    tokenized = {
        name: [tokenize(text) for text in tqdm(texts, desc=f"tokenising {metadata['benchmark']} {name}", unit="doc")]
        for name, (texts, _) in splits.items()
    }
    vocabulary = Vocabulary.build(tokenized["train"], min_frequency=min_frequency, vocab_size=vocab_size)
    multi_label = splits["train"][1].ndim == 2
    features = text_features(max_length, label_names, multi_label)
    truncated = {name: int(sum(len(tokens) > max_length for tokens in docs)) for name, docs in tokenized.items()}
    full_metadata = {
        **metadata,
        "label_names": list(label_names),
        "problem_type": "multi_label_classification" if multi_label else "single_label_classification",
        "vocabulary": list(vocabulary.tokens),
        "truncated": truncated,
    }

    def batches(documents: Sequence[Sequence[str]], labels: np.ndarray):
        for start in range(0, len(documents), _BATCH):
            encoded = [vocabulary.encode(tokens, max_length) for tokens in documents[start : start + _BATCH]]
            yield {
                "input_ids": np.stack([ids for ids, _ in encoded]),
                "attention_mask": np.stack([mask for _, mask in encoded]),
                "labels": labels[start : start + _BATCH].astype(np.float32 if multi_label else np.int64),
            }

    return DatasetDict(
        {
            name: write_split(scratch, name, features, full_metadata, batches(tokenized[name], labels))
            for name, (_, labels) in splits.items()
        }
    )
