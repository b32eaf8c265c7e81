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

Bounds (:class:`RecipeLimitError`, with line and column): nesting deeper than :data:`MAX_DEPTH`
levels, and documents that hold more than :data:`MAX_VALUES` values once every alias is expanded
(anchors and aliases are allowed, e.g. ``<<: *common`` in arms, but a few lines of nested aliases
cannot grow into billions of values), and aliases that refer to themselves.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

#: Deepest nesting of mappings and lists a recipe may have (recipes use about 4).
MAX_DEPTH = 50
#: Most values (scalars, mappings, lists) a recipe may hold with its aliases expanded.
MAX_VALUES = 10_000


class RecipeLimitError(yaml.YAMLError):
    """A YAML document beyond :data:`MAX_DEPTH` or :data:`MAX_VALUES`, or with a self-referring alias."""

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

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise RecipeLimitError(
                    f"nesting deeper than {MAX_DEPTH} levels (line {mark.line + 1}, column {mark.column + 1})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node:
        node = super().compose_document()
        check_expansion(node)
        return node

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
        try:
            return int(text, 0) if text[:2] in ("0x", "0o") else int(text, 10)
        except ValueError:  # beyond Python's limit on the digits of an int read from text
            raise ConstructorError(
                None, None, f"an integer of {len(text):,} digits is too long to read", node.start_mark
            ) from None


RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""])
RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:merge", _MERGE, ["<"])
RecipeLoader.add_constructor("tag:yaml.org,2002:int", RecipeLoader.construct_yaml_int)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, SequenceNode) else []


def check_expansion(root: Node) -> None:
    """Refuse a node graph that expands (aliases repeated) beyond :data:`MAX_VALUES` values or
    :data:`MAX_DEPTH` levels, or that refers to itself; iterative, linear in the distinct nodes."""
    done: dict[int, tuple[int, int]] = {}  # id -> (expanded values, expanded depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes = [done[id(child)] for child in _children(node)]
            values = 1 + sum(size for size, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            where = f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"
            if values > MAX_VALUES:
                raise RecipeLimitError(
                    f"the value at {where} expands to more than {MAX_VALUES:,} values through its aliases; a recipe "
                    "may repeat a value with an alias but not multiply it without bound"
                )
            if depth > MAX_DEPTH:
                raise RecipeLimitError(
                    f"the value at {where} is nested deeper than {MAX_DEPTH} levels through its aliases"
                )
            done[key] = (values, depth)
            continue
        if key in done:
            continue
        if key in open_nodes:
            raise RecipeLimitError(
                f"the value at line {node.start_mark.line + 1}, column {node.start_mark.column + 1} contains itself "
                "through an alias"
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in done)


def read_yaml(stream: Any) -> Any:
    """Parse one YAML document (text or an open file) with :class:`RecipeLoader`.

    Raises:
        yaml.YAMLError: for syntax errors, duplicate keys and unsafe tags (with line and column);
            :class:`RecipeLimitError` beyond the module's bounds.
    """
    return yaml.load(stream, Loader=RecipeLoader)
