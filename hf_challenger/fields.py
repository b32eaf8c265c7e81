"""Typed reading of dataclass fields whose values may arrive as text (YAML, the command line, JSON).

One path for every bool and number field of :class:`~hf_challenger.ChallengerConfig`,
:class:`~hf_challenger.ChallengerTrainingArguments` (including the fields it inherits from
``transformers.TrainingArguments``) and of recipes:

- ``bool``: ``True``/``False``, the ints ``1``/``0``, or the strings ``HfArgumentParser`` accepts
  (``yes``/``no``, ``true``/``false``, ``t``/``f``, ``y``/``n``, ``1``/``0``, any case). Anything
  else is an error; a string is never read by Python truthiness (``"false"`` is not ``True``).
- ``int``: an int (not a bool), or a string of one (``"8"``). ``8.0`` and ``"8.5"`` are errors.
- ``float``: an int or float (not a bool), or a string of one (``"1e-4"``); it must be finite.
- ``X | None``: ``None`` or a value of ``X``.

Fields of any other type are left as they are. Errors are ``ValueError`` naming the field, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

_TRUE = ("yes", "true", "t", "y", "1")
_FALSE = ("no", "false", "f", "n", "0")
_SCALARS = (bool, int, float)


def parse_bool(name: str, value: Any) -> bool:
    """``value`` as a bool (see the module docstring); raises ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(
        f"{name} must be a bool (true/false, yes/no, t/f, y/n, 1/0, any case); got {value!r}"
        + _type_note(value)
    )


def parse_int(name: str, value: Any) -> int:
    """``value`` as an int (see the module docstring); raises ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer; got the bool {value!r}")
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__") and not isinstance(value, (str, float)):  # numpy integers
        return int(value.__index__())
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be an integer; got {value!r}" + _type_note(value))


def parse_float(name: str, value: Any, *, finite: bool = True) -> float | int:
    """``value`` as a number (an int stays an int), finite unless ``finite=False`` (the caller then
    checks the range itself); raises ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number; got the bool {value!r}")
    number: float | int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) or (hasattr(value, "__float__") and not isinstance(value, str)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise ValueError(f"{name} must be a finite number; got {value!r}" + _type_note(value))
    if finite and not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return number


def parse_field(name: str, value: Any, hint: Any, *, finite: bool = True) -> Any:
    """``value`` read as the type ``hint`` when that is bool, int, float or one of them ``| None``.

    Other hints return ``value`` unchanged.
    """
    scalar, optional = _scalar_of(hint)
    if scalar is None:
        return value
    if value is None and optional:
        return None
    if scalar is bool:
        return parse_bool(name, value)
    if scalar is int:
        return parse_int(name, value)
    return parse_float(name, value, finite=finite)


def scalar_hints(cls: type) -> dict[str, Any]:
    """Field name -> type hint of the bool/int/float (optionally ``| None``) fields of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if _scalar_of(hints[f.name])[0] is not None}


def coerce_fields(instance: Any, *, finite: bool = True) -> None:
    """Read every bool/int/float field of the dataclass ``instance`` in place (see :func:`parse_field`).

    ``finite=False`` leaves non-finite floats to the caller's own range checks (which must refuse them).
    """
    for name, hint in scalar_hints(type(instance)).items():
        setattr(instance, name, parse_field(name, getattr(instance, name), hint, finite=finite))


def _scalar_of(hint: Any) -> tuple[type | None, bool]:
    """``(bool|int|float, optional)`` for ``X`` or ``X | None`` with a scalar ``X``; else ``(None, False)``."""
    if hint in _SCALARS:
        return hint, False
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in _SCALARS and len(typing.get_args(hint)) == 2:
            return args[0], True
    return None, False


def _type_note(value: Any) -> str:
    return "" if isinstance(value, (str, int, float)) else f" of type {type(value).__name__}"
