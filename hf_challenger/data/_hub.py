"""Reading a benchmark's Hub form through ``datasets.load_dataset``."""

from __future__ import annotations

from typing import Any

from datasets import DatasetDict, load_dataset


def load_hub_dataset(
    repo_id: str, benchmark: str, local_form: str, splits: tuple[str, ...] = ("train", "test"), **kwargs: Any
) -> DatasetDict:
    """``load_dataset(repo_id, **kwargs)``, re-raising failures with what to do instead.

    ``splits`` must be present. ``local_form`` describes the files ``data_dir`` should hold, for the message
    shown when the Hub cannot be reached (offline, or not cached yet).
    """
    try:
        loaded = load_dataset(repo_id, **kwargs)
    except (ConnectionError, OSError, ValueError) as error:
        raise RuntimeError(
            f"could not load the Hub dataset {repo_id!r} for benchmark {benchmark!r} ({error}). "
            f"Go online once so datasets caches it, or pass data_dir= a folder holding {local_form}"
        ) from error
    if not isinstance(loaded, DatasetDict):
        raise TypeError(f"Hub dataset {repo_id!r} did not load as a DatasetDict of splits (got {type(loaded).__name__})")
    missing = [name for name in splits if name not in loaded]
    if missing:
        raise ValueError(f"Hub dataset {repo_id!r} lacks split(s) {missing}; it has {list(loaded)}")
    return loaded


def hub_fingerprints(dataset: DatasetDict) -> dict[str, str]:
    """Split name -> datasets fingerprint: identifies the Hub data in cache keys."""
    return {name: split._fingerprint for name, split in dataset.items()}
