"""Choosing and checking the checkpoint a run resumes from.

``Trainer`` writes ``checkpoint-N`` file by file and ``trainer_state.json`` last, so a run killed
while saving (``kill -9``, out of memory, a lost machine) leaves a folder without a readable
``trainer_state.json``. ``resume_from_checkpoint=True`` would pick that folder and fail on every
later attempt; here it takes the newest *complete* checkpoint instead and warns naming each
incomplete one it skips.

Before resuming, every file ``Trainer`` reads from the checkpoint (all but ``training_args.bin``)
is opened once: JSON files are
parsed, safetensors headers read, ``.pt``/``.pth``/``.bin`` files loaded with torch's safe loader
(memory-mapped, so nothing large is read). A truncated, empty or foreign file, or a pickle the safe
loader refuses, is an error naming the file and saying what to do, instead of a JSON, safetensors
or unpickling message that names none.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path

import torch

#: What ``Trainer`` writes last into a checkpoint: its presence (readable) marks the save complete.
TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: ChallengerTrainer's own RNG state files, checked when they are loaded (their message says the run
#: may resume without them).
RNG_STATE_PREFIX = "challenger_rng_state"
#: Files ``Trainer`` writes into a checkpoint but never reads when resuming (``training_args.bin`` is a
#: pickle of the arguments object, which the safe loader would refuse).
NOT_READ = ("training_args.bin",)
_ADVICE = "resume from another checkpoint (or delete this one to resume from the one before it)"


class CheckpointError(ValueError):
    """A checkpoint folder or file that cannot be resumed from (the message names it)."""


def incomplete_reason(folder: str | os.PathLike) -> str | None:
    """``None`` if ``folder`` holds a readable ``trainer_state.json``, else why the save is incomplete."""
    state = Path(folder) / TRAINER_STATE
    if not state.is_file():
        return f"it has no {TRAINER_STATE} (the save was interrupted)"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        return f"its {TRAINER_STATE} cannot be read ({type(error).__name__}; the save was interrupted)"
    return None


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str:
    """The newest complete ``checkpoint-N`` of ``output_dir``, warning once per incomplete one skipped.

    Raises:
        CheckpointError: when ``output_dir`` holds no complete checkpoint (naming the incomplete ones).
    """
    folder = Path(output_dir)
    found = []
    if folder.is_dir():
        found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    skipped = []
    for _, path in sorted(found, reverse=True):
        reason = incomplete_reason(path)
        if reason is None:
            return str(path)
        skipped.append(str(path))
        warnings.warn(
            f"skipping the incomplete checkpoint {path}: {reason}; resuming from an earlier one. Delete it once "
            "the run is back on track",
            UserWarning,
            stacklevel=3,
        )
    incomplete = f" (incomplete, skipped: {', '.join(skipped)})" if skipped else ""
    raise CheckpointError(
        f"resume_from_checkpoint=True found no complete checkpoint-N folder in {folder}{incomplete}; train from "
        "the start (resume_from_checkpoint=None) or pass a checkpoint folder"
    )


def check_checkpoint(folder: str | os.PathLike) -> None:
    """Open every file ``Trainer`` reads when resuming from ``folder`` once (see the module docstring).

    Raises:
        CheckpointError: naming the folder (not a folder, save incomplete) or the unreadable file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"resume_from_checkpoint={str(folder)!r} is not a folder; pass a checkpoint-N folder")
    reason = incomplete_reason(folder)
    if reason is not None:
        raise CheckpointError(f"cannot resume from {folder}: {reason}; {_ADVICE}")
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(RNG_STATE_PREFIX) and path.name not in NOT_READ:
            _check_file(path)


def _check_file(path: Path) -> None:
    """Read ``path`` as its suffix says; files of other kinds are left to whatever reads them."""
    what = None
    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        elif path.suffix in (".pt", ".pth", ".bin"):
            _safe_torch_load(path)
    except pickle.UnpicklingError:
        what = "torch's safe loader (weights_only) refuses its contents: it holds objects other than tensors"
    except Exception as error:  # json, safetensors and torch raise many types for truncated files
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        what = f"it is empty, truncated or not the file Trainer saved ({type(error).__name__}: {first})"
    if what is not None:
        raise CheckpointError(f"cannot resume from {path}: {what}; {_ADVICE}")


def _safe_torch_load(path: Path) -> None:
    """``torch.load`` with the safe loader and the numpy types ``Trainer`` allows for its RNG state,
    memory-mapped where the file's format allows it."""
    from transformers.trainer_pt_utils import safe_globals

    with safe_globals():
        try:
            torch.load(path, weights_only=True, mmap=True, map_location="cpu")
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            torch.load(path, weights_only=True, map_location="cpu")  # the legacy (non-zip) format


def resolve_resume(resume_from_checkpoint: str | bool | None, output_dir: str | os.PathLike) -> str | None:
    """The checkpoint folder ``Trainer.train`` should resume from, checked (see the module docstring).

    ``True``: the newest complete checkpoint of ``output_dir``; a path: that folder; ``None``/``False``: none.
    """
    if resume_from_checkpoint is None or resume_from_checkpoint is False:
        return None
    if resume_from_checkpoint is True:
        resume_from_checkpoint = last_complete_checkpoint(output_dir)
    check_checkpoint(resume_from_checkpoint)
    return str(resume_from_checkpoint)
