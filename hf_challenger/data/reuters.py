"""Reuters-21578 topic classification on the ModApte split.

Sources: with ``data_dir``, a folder holding the 22 SGML files ``reut2-000.sgm``
.. ``reut2-021.sgm`` of Distribution 1.0 (read as Latin-1: the files are ASCII
apart from a few stray bytes; a file that is not text is an error naming it, see
:mod:`hf_challenger.data.textcheck`, and so are files holding no ModApte training document); without, the Hub dataset
``ucirvine/reuters21578`` in its ``ModApte`` configuration (columns ``title``,
``text``, ``topics``; splits ``train``/``test``).

ModApte split: documents with ``TOPICS="YES"`` and ``LEWISSPLIT="TRAIN"``
form train (9,603 in the full collection), ``TOPICS="YES"`` and
``LEWISSPLIT="TEST"`` test (3,299); all others are not used. Document text =
``<TITLE>`` + newline + ``<BODY>`` (for BRIEF documents the title, for UNPROC
ones the raw ``<TEXT>``), SGML entities decoded and control characters removed.

Label sets (option ``label_set``):

- ``"r52"`` (default): single-label. ModApte documents with exactly one topic,
  restricted to topics that occur as the only topic of at least one training
  and one test document: 52 topics, 6,532 train / 2,568 test documents on the
  full collection. (The paper's text top-K of 10 needs more than 10 classes.)
- ``"r8"``: single-label; of the 10 topics with the most ModApte training
  documents (counting every topic of a document), the 8 with the most
  single-topic training documents (wheat and corn, which rarely occur alone,
  fall out): acq, crude, earn, grain, interest, money-fx, ship, trade on the
  full collection, 5,485 / 2,189 documents.
- ``"multilabel"``: ``labels`` is a float32 multi-hot vector over the topics
  with at least one training and one test document (90 on the full
  collection); documents with at least one of them (7,770 / 3,019 measured
  on the full collection; the literature usually quotes 7,769 / 3,019).

Documents outside the chosen label set (no topic, several topics for
single-label sets, or only rare topics) are dropped by this policy; the counts
per split are stored in the metadata (``dropped``) and reported in a warning
on every load. Label sets are computed from the data, not hard-coded.

``validation_size`` (default 0.1 of train, seeded with ``seed``, stratified
by topic; for multi-label by each document's rarest topic) forms the
validation split. Tokenisation, vocabulary, GloVe and columns: see
:mod:`hf_challenger.data.text`; with ``tokenizer`` (a checkpoint's own),
:mod:`hf_challenger.data.pretrained`.
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from tqdm.auto import tqdm

from ._common import (
    cached_dataset_dict,
    check_choice,
    file_signature,
    get_metadata,
    warn_caller,
    multilabel_strata,
    resolve_split_size,
    stratified_split,
)
from ._hub import hub_fingerprints, load_hub_dataset
from .textcheck import check_text_file
from .pretrained import text_encoding

HUB_ID = "ucirvine/reuters21578"
HUB_CONFIG = "ModApte"
LABEL_SETS = ("r52", "r8", "multilabel")
SGML_GLOB = "reut2-*.sgm"

_DOCUMENT = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.DOTALL)
_OPEN_TAG = re.compile(r"<REUTERS\b")
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.DOTALL)
_D = re.compile(r"<D>(.*?)</D>", re.DOTALL)
_TEXT = re.compile(r"<TEXT\b[^>]*>(.*?)</TEXT>", re.DOTALL)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.DOTALL)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class ReutersDocument:
    """One ``<REUTERS>`` element: NEWID, ModApte split (``train``/``test``/``None``), topics, text."""

    new_id: int
    split: str | None
    topics: tuple[str, ...]
    text: str


def _clean(fragment: str) -> str:
    return _CONTROL.sub("", html.unescape(_TAG.sub(" ", fragment))).strip()


def _modapte_split(attributes: dict[str, str]) -> str | None:
    if attributes.get("TOPICS") != "YES":
        return None
    return {"TRAIN": "train", "TEST": "test"}.get(attributes.get("LEWISSPLIT", ""))


def parse_sgml(path: Path) -> list[ReutersDocument]:
    """Parse one ``reut2-NNN.sgm`` file; raises ``ValueError`` naming the file on malformed elements."""
    content = check_text_file(Path(path).read_bytes(), path, encoding="latin-1")
    documents = []
    for match in _DOCUMENT.finditer(content):
        attributes = dict(_ATTRIBUTE.findall(match.group(1)))
        body = match.group(2)
        if "NEWID" not in attributes or not attributes["NEWID"].isdigit():
            raise ValueError(f"{path}: a <REUTERS> element at offset {match.start()} lacks a numeric NEWID")
        topics_block = _TOPICS.search(body)
        text_block = _TEXT.search(body)
        if topics_block is None or text_block is None:
            raise ValueError(f"{path}: document NEWID={attributes['NEWID']} lacks <TOPICS> or <TEXT>")
        text = text_block.group(1)
        title, main = _TITLE.search(text), _BODY.search(text)
        if title or main:
            text = "\n".join(_clean(part.group(1)) for part in (title, main) if part)
        else:
            text = _clean(text)
        documents.append(
            ReutersDocument(
                new_id=int(attributes["NEWID"]),
                split=_modapte_split(attributes),
                topics=tuple(t.strip() for t in _D.findall(topics_block.group(1))),
                text=text,
            )
        )
    opened = len(_OPEN_TAG.findall(content))
    if opened != len(documents):
        raise ValueError(f"{path}: {opened} <REUTERS> tags but {len(documents)} complete documents; file is corrupt")
    return documents


def select_labels(
    topics: dict[str, list[tuple[str, ...]]], label_set: str
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """Apply ``label_set`` to each split's topic tuples.

    Returns (label names, kept row indices per split, labels per split: int ``[n]``
    or multi-hot float32 ``[n, C]``, dropped count per split).
    """
    if label_set == "multilabel":
        counts = {name: Counter(t for doc in docs for t in set(doc)) for name, docs in topics.items()}
        names = sorted(set(counts["train"]) & set(counts["test"]))
    else:
        counts = {name: Counter(doc[0] for doc in docs if len(doc) == 1) for name, docs in topics.items()}
        names = sorted(set(counts["train"]) & set(counts["test"]))
        if label_set == "r8":
            overall = Counter(t for doc in topics["train"] for t in set(doc))
            top10 = sorted(overall, key=lambda t: (-overall[t], t))[:10]
            names = sorted(sorted((t for t in top10 if t in names), key=lambda t: (-counts["train"][t], t))[:8])
    index = {name: i for i, name in enumerate(names)}
    kept, labels, dropped = {}, {}, {}
    for split, docs in topics.items():
        if label_set == "multilabel":
            hot = np.zeros((len(docs), len(names)), dtype=np.float32)
            for row, doc in enumerate(docs):
                hot[row, [index[t] for t in doc if t in index]] = 1.0
            rows = np.flatnonzero(hot.any(axis=1))
            labels[split] = hot[rows]
        else:
            rows = np.asarray([i for i, doc in enumerate(docs) if len(doc) == 1 and doc[0] in index], dtype=np.int64)
            labels[split] = np.asarray([index[docs[i][0]] for i in rows], dtype=np.int64)
        kept[split] = rows
        dropped[split] = len(docs) - len(rows)
    return names, kept, labels, dropped


def _read_sgml_folder(paths: Sequence[Path]) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    splits: dict[str, tuple[list[str], list[tuple[str, ...]]]] = {"train": ([], []), "test": ([], [])}
    found = 0
    for path in tqdm(paths, desc="parsing Reuters SGML", unit="file"):
        for doc in parse_sgml(path):
            found += 1
            if doc.split is not None:
                splits[doc.split][0].append(doc.text)
                splits[doc.split][1].append(doc.topics)
    if not splits["train"][0]:
        shown = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        raise ValueError(
            f"the Reuters SGML file(s) read ({shown}) hold {found} <REUTERS> document(s) and none in the ModApte "
            "training split; data_dir must hold the original reut2-000.sgm .. reut2-021.sgm"
        )
    return splits


def _read_hub(hub: DatasetDict) -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    splits = {}
    for name in ("train", "test"):
        split = hub[name]
        missing = [c for c in ("text", "topics") if c not in split.column_names]
        if missing:
            raise ValueError(f"Hub dataset {HUB_ID!r} split {name!r} lacks {missing}; has {split.column_names}")
        bodies = list(split["text"])
        titles = list(split["title"]) if "title" in split.column_names else [""] * len(bodies)
        texts = [f"{title}\n{body}".strip() for title, body in zip(titles, bodies)]
        splits[name] = (texts, [tuple(t) for t in split["topics"]])
    return splits


def load_reuters(
    *,
    data_dir: str | os.PathLike | None = None,
    label_set: str = "r52",
    max_length: int | None = None,
    vocab_size: int | None = None,
    min_frequency: int | None = None,
    validation_size: int | float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    tokenizer: Any = None,
) -> DatasetDict:
    """Reuters-21578 ModApte as train/validation/test (columns in :mod:`hf_challenger.data.text`, or with
    ``tokenizer`` in :mod:`hf_challenger.data.pretrained`)."""
    check_choice("label_set", label_set, LABEL_SETS)
    encoding = text_encoding(tokenizer, max_length, vocab_size, min_frequency)
    options = {"label_set": label_set, **encoding.options, "validation_size": validation_size, "seed": seed}

    def build_from(read):
        def build(scratch: Path) -> DatasetDict:
            raw = read()
            names, kept, labels, dropped = select_labels({k: v[1] for k, v in raw.items()}, label_set)
            texts = {split: [raw[split][0][i] for i in kept[split]] for split in raw}
            train_labels = labels["train"]
            strata = multilabel_strata(train_labels) if label_set == "multilabel" else train_labels
            count = resolve_split_size("validation_size", validation_size, len(strata))
            keep, held = stratified_split(strata, count, seed)
            splits = {
                "train": ([texts["train"][i] for i in keep], train_labels[keep]),
                "validation": ([texts["train"][i] for i in held], train_labels[held]),
                "test": (texts["test"], labels["test"]),
            }
            metadata = {"benchmark": "reuters", "options": options, "dropped": dropped,
                        "modapte_documents": {split: len(raw[split][1]) for split in raw}}
            return encoding.build(splits, label_names=names, metadata=metadata, scratch=scratch)
        return build

    if data_dir is not None:
        folder = Path(data_dir)
        paths = sorted(folder.glob(SGML_GLOB))
        if not paths:
            raise FileNotFoundError(
                f"no Reuters-21578 SGML files {folder / SGML_GLOB}: data_dir must hold reut2-000.sgm .. reut2-021.sgm"
            )
        key_parts = {**options, "files": file_signature(paths)}
        result = cached_dataset_dict("reuters", key_parts, build_from(lambda: _read_sgml_folder(paths)), cache_dir)
    else:
        hub = load_hub_dataset(HUB_ID, "reuters", "reut2-000.sgm .. reut2-021.sgm", name=HUB_CONFIG)
        key_parts = {**options, "hub": HUB_ID, "config": HUB_CONFIG, "fingerprints": hub_fingerprints(hub)}
        result = cached_dataset_dict("reuters", key_parts, build_from(lambda: _read_hub(hub)), cache_dir)
    dropped = get_metadata(result)["dropped"]
    if any(dropped.values()):
        warn_caller(
            f"reuters label_set={label_set!r}: dropped ModApte documents outside the label set "
            f"(train {dropped['train']}, test {dropped['test']}); see hf_challenger.data.reuters",
        )
    return result
