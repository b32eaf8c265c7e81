"""20 Newsgroups ("bydate" release): one message per document, 20 single-label classes.

Sources: with ``data_dir``, a folder holding ``20news-bydate-train/`` and
``20news-bydate-test/`` (from ``20news-bydate.tar.gz``), each with one
sub-folder per newsgroup and one file per message (11,314 train / 7,532
test in the full release); without, the Hub dataset ``SetFit/20_newsgroups``
(columns ``text``, ``label``, ``label_text``; its text is taken as published
there). Labels are the 20 group names in alphabetical order, the same as the
sub-folder names; a test folder whose groups differ from train is an error.

Decoding: each file is read as bytes and decoded as UTF-8 when valid, else
as Latin-1 (which accepts every byte, so no message is skipped; several
messages are Latin-1). A file that is not text (NUL bytes, or mostly control
characters: :mod:`hf_challenger.data.textcheck`) is an error naming it, and so is a
folder whose newsgroup sub-folders hold no file. Line ends ``\\r\\n`` and lone ``\\r`` become ``\\n``.
With ``remove_headers=True`` (default) the header block, i.e. everything up
to the first empty line, is dropped: it contains the ``Newsgroups:`` line,
which names the label. An empty message (nothing after the headers) is kept
as an all-padding sequence.

``validation_size`` (default 0.1 of train, stratified by group, seeded with
``seed``) forms the validation split. Tokenisation, vocabulary, GloVe and
columns: see :mod:`hf_challenger.data.text`; with ``tokenizer`` (a checkpoint's
own), :mod:`hf_challenger.data.pretrained`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict
from tqdm.auto import tqdm

from ._common import (
    cached_dataset_dict,
    file_signature,
    require_dir,
    resolve_split_size,
    stratified_split,
)
from ._hub import hub_fingerprints, load_hub_dataset
from .textcheck import check_text_file
from .pretrained import text_encoding

HUB_ID = "SetFit/20_newsgroups"
TRAIN_FOLDER, TEST_FOLDER = "20news-bydate-train", "20news-bydate-test"
GROUPS = (
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med", "sci.space",
    "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast", "talk.politics.misc",
    "talk.religion.misc",
)
_LINE_END = re.compile(r"\r\n?")


def decode_message(raw: bytes, remove_headers: bool = True, path: str | Path = "a message") -> str:
    """Decode one message file (UTF-8, else Latin-1), normalise line ends, optionally drop headers.

    Raises:
        ValueError: naming ``path`` when the bytes are not text (:mod:`hf_challenger.data.textcheck`).
    """
    text = check_text_file(raw, path)
    text = _LINE_END.sub("\n", text)
    if remove_headers:
        _, separator, body = text.partition("\n\n")
        text = body if separator else ""
    return text


def list_bydate(folder: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """Group names (sorted sub-folders), message files and their label ids ``[N]`` of one bydate folder."""
    require_dir(folder, "a 20 Newsgroups bydate folder with one sub-folder per newsgroup")
    groups = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not groups:
        raise FileNotFoundError(f"{folder} has no newsgroup sub-folders; expected the 20 groups, e.g. {GROUPS[0]}/")
    files, labels = [], []
    for label, group in enumerate(groups):
        members = sorted((p for p in (folder / group).iterdir() if p.is_file()), key=lambda p: p.name)
        files.extend(members)
        labels.extend([label] * len(members))
    if not files:
        shown = ", ".join(f"{group}/" for group in groups[:5]) + (", ..." if len(groups) > 5 else "")
        raise FileNotFoundError(
            f"{folder} holds no message file: its {len(groups)} newsgroup sub-folder(s) ({shown}) are empty"
        )
    return groups, files, np.asarray(labels, dtype=np.int64)


def load_newsgroups(
    *,
    data_dir: str | os.PathLike | None = None,
    remove_headers: bool = True,
    max_length: int | None = None,
    vocab_size: int | None = None,
    min_frequency: int | None = None,
    validation_size: int | float = 0.1,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    tokenizer: Any = None,
) -> DatasetDict:
    """20 Newsgroups as train/validation/test with ``input_ids``/``attention_mask`` and ``labels``
    (``[max_length]`` word ids, or a tokenizer's unpadded ids: :func:`~.pretrained.text_encoding`)."""
    encoding = text_encoding(tokenizer, max_length, vocab_size, min_frequency)
    options = {"remove_headers": remove_headers, **encoding.options, "validation_size": validation_size, "seed": seed}
    metadata = {"benchmark": "20newsgroups", "options": options}

    def build_from(read):
        def build(scratch: Path) -> DatasetDict:
            label_names, raw = read()
            texts, labels = raw["train"]
            count = resolve_split_size("validation_size", validation_size, len(labels))
            keep, held = stratified_split(labels, count, seed)
            splits = {
                "train": ([texts[i] for i in keep], labels[keep]),
                "validation": ([texts[i] for i in held], labels[held]),
                "test": raw["test"],
            }
            return encoding.build(splits, label_names=label_names, metadata=metadata, scratch=scratch)
        return build

    if data_dir is not None:
        root = Path(data_dir)
        listings = {name: list_bydate(root / folder) for name, folder in (("train", TRAIN_FOLDER), ("test", TEST_FOLDER))}
        train_groups, test_groups = listings["train"][0], listings["test"][0]
        if train_groups != test_groups:
            raise ValueError(
                f"{root / TEST_FOLDER} has groups {sorted(set(test_groups) ^ set(train_groups))} that "
                f"{root / TRAIN_FOLDER} lacks or vice versa; both must hold the same newsgroups"
            )
        all_files = listings["train"][1] + listings["test"][1]

        def read_local():
            raw = {}
            for name, (_, files, labels) in listings.items():
                progress = tqdm(files, desc=f"reading 20 Newsgroups {name}", unit="file")
                raw[name] = ([decode_message(path.read_bytes(), remove_headers, path) for path in progress], labels)
            return train_groups, raw

        key_parts = {**options, "files": file_signature(all_files)}
        return cached_dataset_dict("20newsgroups", key_parts, build_from(read_local), cache_dir)

    hub = load_hub_dataset(HUB_ID, "20newsgroups", f"{TRAIN_FOLDER}/ and {TEST_FOLDER}/")

    def read_hub():
        raw = {}
        for name in ("train", "test"):
            split = hub[name]
            if "text" not in split.column_names or "label_text" not in split.column_names:
                raise ValueError(f"Hub dataset {HUB_ID!r} split {name!r} lacks 'text'/'label_text': {split.column_names}")
            names = list(split["label_text"])
            unknown = sorted(set(names) - set(GROUPS))
            if unknown:
                raise ValueError(f"Hub dataset {HUB_ID!r} has unknown groups {unknown}; expected {GROUPS}")
            index = {group: i for i, group in enumerate(GROUPS)}
            raw[name] = (list(split["text"]), np.asarray([index[g] for g in names], dtype=np.int64))
        return list(GROUPS), raw

    key_parts = {**options, "hub": HUB_ID, "fingerprints": hub_fingerprints(hub)}
    return cached_dataset_dict("20newsgroups", key_parts, build_from(read_hub), cache_dir)
