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
import enum
import math
import reprlib
import types
import typing
from typing import Any

_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 200, 200, 60
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxset = _SHOWN.maxdict = 8
_SHOWN.maxlevel = 3


def shown(value: Any) -> str:
    """``repr(value)`` for error messages, bounded: long text cut to 200 characters, containers to 8
    items and 3 levels (``...`` marks what is left out), so a huge value never reaches a message."""
    return _SHOWN.repr(value)


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
        f"{name} must be a bool (true/false, yes/no, t/f, y/n, 1/0, any case); got {shown(value)}"
        + _type_note(value)
    )


def parse_int(name: str, value: Any) -> int:
    """``value`` as an int (see the module docstring); raises ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer; got the bool {shown(value)}")
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__") and not isinstance(value, (str, float)):  # numpy integers
        return int(value.__index__())
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{name} must be an integer; got {shown(value)}" + _type_note(value))


def parse_float(name: str, value: Any, *, finite: bool = True) -> float | int:
    """``value`` as a number (an int stays an int), finite unless ``finite=False`` (the caller then
    checks the range itself); raises ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number; got the bool {shown(value)}")
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
        raise ValueError(f"{name} must be a finite number; got {shown(value)}" + _type_note(value))
    if finite and not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {shown(value)}")
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


def check_value(name: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the type ``hint`` (and read, for bool/int/float); raises naming ``name``.

    Judged: ``str``, ``bool``, ``int``, ``float``, ``None``, ``list[X]``/``tuple[X, ...]``, ``dict``,
    ``Literal[...]``, ``Enum`` subclasses (their values, as text; also in ``Enum | str``), other
    classes (``isinstance``) and unions of these. Other typing constructs pass unchecked.
    """
    ok, result = _match(value, hint)
    if ok:
        return result
    scalar, _ = _scalar_of(hint)
    if scalar is not None:  # the scalar reader's message says what is wrong with the value
        return parse_field(name, value, hint)
    raise ValueError(f"{name} must be {_describe(hint)}; got {shown(value)}" + _type_note(value))


def _match(value: Any, hint: Any) -> tuple[bool, Any]:
    """``(True, value as read)`` when ``value`` fits ``hint``; ``(False, None)`` otherwise."""
    if hint is Any or hint is typing.Any:
        return True, value
    if hint is None or hint is type(None):
        return value is None, None
    scalar, _ = _scalar_of(hint)
    if scalar is not None:
        try:
            return True, parse_field("", value, hint)
        except ValueError:
            return False, None
    if hint is str:
        return isinstance(value, str), value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums and str in args:  # `SomeStrategy | str`: the text must be one of the enum's values
            args = tuple(a for a in args if a is not str)
        exact = [a for a in args if _exactly(value, a)]  # a member the value already is wins (no conversion)
        for member in exact + [a for a in args if a not in exact]:
            ok, result = _match(value, member)
            if ok:
                return True, result
        return False, None
    if origin is typing.Literal:
        return value in args, value
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, None
        item = args[0] if args else Any
        items = [_match(v, item) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [member.value for member in hint]
        return (value in allowed or isinstance(value, hint)), value
    if isinstance(hint, type):  # another class: text from a recipe is not one (e.g. os.PathLike)
        return isinstance(value, hint), value
    return True, value  # a typing construct not judged here


def _exactly(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint in _SCALARS:
        return type(value) is hint or (hint is float and type(value) is int)
    return hint is str and isinstance(value, str)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if str in args and any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args):
            args = tuple(a for a in args if a is not str)
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (list, tuple) or hint in (list, tuple):
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    names = {str: "text", bool: "a bool", int: "an integer", float: "a finite number", type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


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
