"""Types of recipe values, checked when a recipe is read (not later inside transformers).

Each value is checked against the type of the field it sets, with
:func:`hf_challenger.fields.check_value` (bool/number text read as ``HfArgumentParser`` reads it;
text, lists, mappings and enum values checked): ``training`` and arm fields against
``ChallengerTrainingArguments``, ``model.config`` against the config class's ``__init__``,
``data.options`` against the benchmark's loader. Errors are ``ValueError`` naming the key as the
recipe writes it (``arms.base.challenger_enabled``); :mod:`hf_challenger.experiments.recipe` adds the file.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from ..fields import check_value


def typed_values(section: Mapping[str, Any], hints: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``section`` with every value that has a hint checked and read; ``where`` prefixes the keys."""
    return {key: check_value(f"{where}{key}", value, hints[key]) if key in hints else value
            for key, value in section.items()}  # fmt: skip


def typed_training(section: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``section`` of ``ChallengerTrainingArguments`` fields, typed (``challenger_num_features``: a count
    or a fraction, see :func:`hf_challenger.config.parse_num_features`)."""
    from ..config import parse_num_features
    from ..training_args import ChallengerTrainingArguments

    hints = dict(typing.get_type_hints(ChallengerTrainingArguments))
    typed = dict(section)
    if "challenger_num_features" in typed:  # typed str in the arguments only to keep 128 and 0.05 apart
        name = f"{where}challenger_num_features"
        typed["challenger_num_features"] = parse_num_features(typed["challenger_num_features"], name=name)
    hints.pop("challenger_num_features")
    return typed_values(typed, hints, where)


def typed(check: Any, *args: Any, source: str, error: type[Exception] = ValueError) -> dict[str, Any]:
    """``check(*args)`` (one of the functions above), a failure raised as ``error`` naming ``source``."""
    try:
        return check(*args)
    except ValueError as failure:
        raise error(f"{source}: {failure}") from None


def hints_of(function: Any) -> dict[str, Any]:
    """Parameter type hints of ``function`` (empty when they cannot be resolved)."""
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError):
        return {}
