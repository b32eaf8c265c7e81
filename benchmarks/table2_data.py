"""Development folders for the Table 2 recipes, in the upstream layouts the loaders read.

Partial copies (samples) of the data sets lack the official test splits, so this script carves a
held-out development test split out of their training files and writes (or links) it where the upstream
release keeps its test split. The recipes then run unchanged on these folders and on the full
upstream folders (``--data_dir``), where the official test splits are used.

    python benchmarks/table2_data.py SAMPLES OUT [--only cifar10,20newsgroups]

- ``cifar10``: ``SAMPLES/cifar10/cifar-10-batches-py-subset/data_batch_1`` (4,000 real
  training images). Every 4th image of each class (by position in the file) goes to
  ``OUT/cifar10/test_batch`` (1,000 images), the rest (3,000) is spread over ``data_batch_1`` ..
  ``data_batch_5`` in file order, as python-version pickles (dict with ``data`` uint8 ``[n, 3072]``
  and ``labels``).
- ``20newsgroups``: ``SAMPLES/20newsgroups/20news-bydate-train`` (11,314 real messages). Every
  5th message of each group (by file number) is linked into ``OUT/20newsgroups/20news-bydate-test``,
  the rest into ``OUT/20newsgroups/20news-bydate-train``.
- Reuters-21578 needs nothing: the copy used is the whole ModApte collection
  (``SAMPLES/reuters21578``), official test split included.

The recipes' validation split is then drawn from the remaining training part by the loaders, so
training, validation and development test are disjoint.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

CIFAR_TEST_EVERY = 4
NEWSGROUPS_TEST_EVERY = 5
CIFAR_TRAIN_FILES = 5


def held_out(labels: np.ndarray, every: int) -> np.ndarray:
    """Boolean mask ``[N]``: the ``every``-th member of each class (positions every-1, 2*every-1 ...)."""
    mask = np.zeros(labels.shape[0], dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        mask[members[every - 1 :: every]] = True
    return mask


def _write_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One python-version CIFAR-10 batch: ``images`` uint8 ``[n, 3, 32, 32]``, ``labels`` ``[n]``."""
    content = {b"data": images.reshape(len(images), -1), b"labels": [int(v) for v in labels]}
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=2)


def prepare_cifar10(shared: Path, out: Path) -> str:
    from hf_challenger.data.cifar10 import read_batch

    source = shared / "cifar10" / "cifar-10-batches-py-subset" / "data_batch_1"
    images, labels = read_batch(source)
    test = held_out(labels, CIFAR_TEST_EVERY)
    target = out / "cifar10"
    target.mkdir(parents=True, exist_ok=True)
    _write_batch(target / "test_batch", images[test], labels[test])
    train_rows = np.flatnonzero(~test)
    for index, part in enumerate(np.array_split(train_rows, CIFAR_TRAIN_FILES), 1):
        _write_batch(target / f"data_batch_{index}", images[part], labels[part])
    return f"CIFAR-10 in {target}: {len(train_rows)} training images, {int(test.sum())} development test images"


def prepare_newsgroups(shared: Path, out: Path) -> str:
    source = shared / "20newsgroups" / "20news-bydate-train"
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a folder of 20 Newsgroups bydate training messages")
    target = out / "20newsgroups"
    counts = {"train": 0, "test": 0}
    for group in sorted(p for p in source.iterdir() if p.is_dir()):
        files = sorted((f for f in group.iterdir() if f.is_file()), key=lambda f: int(f.name))
        for position, message in enumerate(files):
            split = "test" if position % NEWSGROUPS_TEST_EVERY == NEWSGROUPS_TEST_EVERY - 1 else "train"
            link = target / f"20news-bydate-{split}" / group.name / message.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(message.resolve())
            counts[split] += 1
    return f"20 Newsgroups in {target}: {counts['train']} training, {counts['test']} development test messages"


PREPARERS = {"cifar10": prepare_cifar10, "20newsgroups": prepare_newsgroups}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shared", type=Path, help="folder with cifar10/ and 20newsgroups/ samples")
    parser.add_argument("out", type=Path, help="where the development folders are written")
    parser.add_argument("--only", default=",".join(PREPARERS), help=f"comma list of {', '.join(PREPARERS)}")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",")]
    unknown = [name for name in names if name not in PREPARERS]
    if unknown:
        parser.error(f"--only: unknown {unknown}; allowed: {', '.join(PREPARERS)}")
    for name in names:
        print(PREPARERS[name](args.shared, args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
