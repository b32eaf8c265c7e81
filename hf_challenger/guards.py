"""Checks of what ChallengerTrainer is handed: the training set (rows, label column) and the saved RNG
state file."""

from __future__ import annotations

import json
import pickle
from typing import Any

import torch


def refuse_empty_dataset(dataset: Any) -> None:
    """Raise ``ValueError`` naming ``dataset`` (benchmark and split where known) if it has 0 rows.

    ``None`` and datasets without a length (``IterableDataset``) pass.
    """
    try:
        empty = dataset is not None and len(dataset) == 0
    except TypeError:
        return
    if not empty:
        return
    name = type(dataset).__name__
    description = getattr(getattr(dataset, "info", None), "description", None) or ""
    try:
        name = f"the {json.loads(description)['hf_challenger']['benchmark']!r} dataset ({name})"
    except (ValueError, KeyError, TypeError):
        pass  # not made by hf_challenger.data.load_benchmark: the type is all we know
    split = getattr(dataset, "split", None)
    where = f", split {str(split)!r}," if split else ""
    raise ValueError(
        f"the training set, {name}{where} has 0 rows: nothing to train on. Check the data folder, the split and "
        "any filtering or subset size that produced it"
    )


#: ``datasets`` value dtypes that are not numbers (a label column of these is refused).
_TEXT_DTYPES = ("string", "large_string", "binary", "large_binary")


def refuse_bad_label_column(dataset: Any, label_names: list[str]) -> None:
    """Raise ``ValueError`` naming the column and its type when a label column of ``dataset`` is not numeric.

    A ``datasets.Dataset`` is checked by its features (strings, bytes, or lists of them are refused;
    ``ClassLabel``, integers, floats and lists of numbers pass); any other dataset by its first row.
    ``Trainer``'s default collators drop string values silently, so such a column would reach the model
    as no labels at all ("the model did not return a loss").
    """
    features = getattr(dataset, "features", None)
    if isinstance(features, dict):
        for name in label_names:
            if name in features:
                kind = features[name]
                inner = getattr(kind, "feature", kind)  # List / Sequence of values
                if getattr(inner, "dtype", None) in _TEXT_DTYPES:
                    raise ValueError(
                        f"the training set's label column {name!r} holds {inner.dtype} values ({kind}); labels must "
                        "be class ids (integers or a ClassLabel), floats (regression) or lists of 0/1 (multi-label). "
                        "Map the names to ids first, e.g. dataset.class_encode_column(name)"
                    )
        return
    try:
        first = dataset[0] if dataset is not None and len(dataset) > 0 else None
    except (TypeError, KeyError, IndexError):
        return  # not indexable by position: nothing to look at before training
    if isinstance(first, dict):
        for name in label_names:
            value = first.get(name)
            head = value[0] if isinstance(value, (list, tuple)) and value else value
            if isinstance(head, (str, bytes)):
                raise ValueError(
                    f"the training set's label column {name!r} holds {type(value).__name__} values (row 0: "
                    f"{str(value)[:50]!r}); labels must be class ids, floats or lists of 0/1"
                )


def load_generator_state(path: str, generator: torch.Generator) -> None:
    """Set ``generator`` from ``path`` (a ``{"generator": ByteTensor}`` file saved by ChallengerTrainer).

    Raises:
        ValueError: naming ``path`` and what to do, for an empty, truncated, foreign or unusable file.
    """
    advice = (
        "it is empty, truncated or not a file ChallengerTrainer saved. Resume from another checkpoint, or "
        "delete the file to resume without it (Challenger's random draws then differ from an uninterrupted run)"
    )
    try:
        state = torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's long text here suggests the unsafe loader: not for us
        raise ValueError(f"{path} cannot be read (the safe loader refuses its contents); {advice}") from error
    except Exception as error:  # torch raises EOFError, RuntimeError, ... for empty and truncated files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"{path} cannot be read ({type(error).__name__}: {first_line}); {advice}") from error
    if not isinstance(state, dict) or not torch.is_tensor(state.get("generator")):
        raise ValueError(f"{path} is not a Challenger RNG state (no 'generator' tensor entry); {advice}")
    try:
        generator.set_state(state["generator"])
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"{path} holds a generator state this generator cannot take ({error}); {advice}") from error


#: Inherited ``TrainingArguments`` fields whose bad values otherwise fail deep inside torch or
#: transformers (``ZeroDivisionError``, a DataLoader message without the field) or train nothing.
_AT_LEAST_ONE = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")
_NOT_NEGATIVE = ("learning_rate", "weight_decay", "max_grad_norm", "label_smoothing_factor")


def check_trainer_ranges(args: Any) -> None:
    """Range checks of a few inherited ``TrainingArguments`` fields (errors name the field)."""
    for name in _AT_LEAST_ONE:
        if getattr(args, name) < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {getattr(args, name)!r}")
    for name in _NOT_NEGATIVE:
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0; got {value!r}")
    if args.max_steps <= 0 and args.num_train_epochs <= 0:
        raise ValueError(
            f"num_train_epochs={args.num_train_epochs!r} with max_steps={args.max_steps!r} trains nothing; set "
            "num_train_epochs > 0 or max_steps > 0"
        )
