"""Reading recipe YAML with the YAML 1.2 core schema's plain scalars and no duplicate keys.

PyYAML's ``safe_load`` implements YAML 1.1, where ``1e-4`` is a string (a 1.1 float needs a
dot), ``no``/``off`` are booleans (so ``save_strategy: no`` reaches transformers as ``False``),
``010`` is octal 8, ``1:30`` is the integer 90, dates become ``datetime.date`` and a repeated key
silently keeps the last value. :func:`read_yaml` resolves unquoted scalars as YAML 1.2 does:

- null: ``~``, ``null`` (any of null/Null/NULL) or an empty value;
- bool: ``true``/``false`` (also True/TRUE, False/FALSE) only; ``yes``, ``no``, ``on``, ``off`` stay
  text (the typed fields of a recipe read them as booleans where a bool is expected);
- int: decimal digits with an optional sign, ``0x...`` (hex), ``0o...`` (octal);
- float: ``1.5``, ``.5``, ``1e-4``, ``-2.5E+3``, ``.inf``, ``-.inf``, ``.nan``;
- everything else is a string (``2024-01-01``, ``1:30``, ``010`` is the integer 10).

A key given twice in one mapping is an error naming the key and both lines. Only the safe
constructors are used: a ``!!python/...`` tag is an error, as with ``safe_load``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT = re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_MERGE = re.compile(r"^(?:<<)$")


class RecipeLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 core-schema plain scalars and duplicate keys refused."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` entries may be overridden by explicit keys
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor reports it
                continue
            if first is not None:
                raise ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} a second time (first on line {first}); a key may appear only once",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        text = self.construct_scalar(node)
        if text[:2] in ("0x", "0o"):
            return int(text, 0)
        return int(text, 10)


RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:merge", _MERGE, ["<"])
RecipeLoader.add_constructor("tag:yaml.org,2002:int", RecipeLoader.construct_yaml_int)


def read_yaml(stream: Any) -> Any:
    """Parse one YAML document (text or an open file) with :class:`RecipeLoader`.

    Raises:
        yaml.YAMLError: for syntax errors, duplicate keys and unsafe tags (with line and column).
    """
    return yaml.load(stream, Loader=RecipeLoader)
