"""Names of the training fields a recipe or the command line may set, known without importing torch.

``ChallengerTrainingArguments`` is a dataclass over ``transformers.TrainingArguments``; importing it
costs seconds of CPU (torch, transformers). The command line checks its ``--field value`` names
before that, so this module reads the field names from the two classes' source files with ``ast``
(the installed transformers' ``training_args.py`` and this package's), and falls back to importing
the dataclass when a source file is missing or no longer declares its fields as annotated class
attributes of a ``@dataclass``. ``tests/test_cli_startup.py`` checks both ways give the same names.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from dataclasses import fields
from functools import lru_cache
from pathlib import Path


def _dataclass_fields(path: Path, class_name: str) -> list[str] | None:
    """Field names (``init`` fields, in order) of ``@dataclass class class_name`` in ``path``, or
    None when the file or such a class is not there."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name != class_name:
            continue
        if not any("dataclass" in ast.unparse(decorator) for decorator in node.decorator_list):
            return None
        names = []
        for statement in node.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
                continue
            if "ClassVar" in ast.unparse(statement.annotation):
                continue
            value = statement.value
            if isinstance(value, ast.Call) and any(
                keyword.arg == "init" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                for keyword in value.keywords
            ):
                continue
            names.append(statement.target.id)
        return names
    return None


def _imported_field_names() -> tuple[str, ...]:
    from ..training_args import ChallengerTrainingArguments

    return tuple(sorted(f.name for f in fields(ChallengerTrainingArguments) if f.init))


@lru_cache(maxsize=1)
def training_field_names() -> tuple[str, ...]:
    """Sorted names of the ``ChallengerTrainingArguments`` fields (``TrainingArguments`` plus
    ``challenger_*``) a recipe or ``--field value`` may set."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return _imported_field_names()
    upstream = _dataclass_fields(Path(spec.submodule_search_locations[0]) / "training_args.py", "TrainingArguments")
    own = _dataclass_fields(Path(__file__).resolve().parent.parent / "training_args.py", "ChallengerTrainingArguments")
    if not upstream or own is None:
        return _imported_field_names()
    return tuple(sorted({*upstream, *own}))


def unknown_field(argv: Sequence[str]) -> str | None:
    """The first ``--name`` in ``argv`` (``--name value`` or ``--name=value``; ``--no_name`` for a
    boolean) that is not a training field, or None."""
    allowed = set(training_field_names())
    for token in argv:
        if token.startswith("--"):
            key = token[2:].split("=", 1)[0]
            if key not in allowed and not (key.startswith("no_") and key[3:] in allowed):
                return key
    return None
