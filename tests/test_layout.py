"""The package's layout: no import circles, and the plugin never imports the experiment machinery.

The plugin is everything a user imports to train (the top level, ``lrp/``, ``challenge/``,
``models/``, ``data/``, ``metrics/``); ``hf_challenger/experiments/`` is the machinery on top of it
(recipes, runs, summaries, figures, the pre-run check) and ``hf_challenger/cli.py`` the command line
over both. The import graph is read from the source with ``ast``, so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hf_challenger"
EXPERIMENTS = "hf_challenger.experiments"
ON_TOP = {"hf_challenger.cli"}  # the command line, a thin layer over the plugin and the experiments


def module_sources(root: Path = PACKAGE) -> dict[str, str]:
    """``{dotted module name: source}`` of every ``.py`` file under ``root`` (packages as their ``__init__``)."""
    sources = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        sources[name] = path.read_text(encoding="utf-8")
    return sources


#: Back references the runtime never follows at import: ``RuleMode`` named in type hints only, and
#: the call-rule registry read by an in-place product handler when it is called.
ALLOWED_BACK_EDGES = {
    **dict.fromkeys(
        [(f"hf_challenger.lrp.call_rules.{name}", "hf_challenger.lrp.functional_rules")
         for name in ("attention", "elementwise", "normalisation", "products")]
        + [("hf_challenger.lrp.rules", "hf_challenger.lrp.functional_rules")],
        "typing",
    ),
    ("hf_challenger.lrp.call_rules.products", "hf_challenger.lrp.call_rules"): "function",
}


def _is_package(name: str, sources: dict[str, str]) -> bool:
    return any(other.startswith(name + ".") for other in sources)


def _type_checking_only(node: ast.AST) -> bool:
    """Whether ``node`` is an ``if TYPE_CHECKING:`` block (imports for type hints only)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_edges(sources: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    """Per module, the package modules it imports, as ``(module, kind)``.

    ``kind`` is ``"module"`` for an import run when the module is imported, ``"function"`` for one
    inside a function or method (run when it is called) and ``"typing"`` for one under
    ``if TYPE_CHECKING:`` (never run). ``from .a import b`` counts as an import of ``a.b`` when that
    is a module, else of ``a``.
    """
    edges: dict[str, set[tuple[str, str]]] = {name: set() for name in sources}
    for name, source in sources.items():
        package = name if _is_package(name, sources) else name.rpartition(".")[0]
        kinds: dict[int, str] = {}
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                kinds.update((id(inner), "function") for inner in ast.walk(node) if inner is not node)
        for node in ast.walk(tree):
            if _type_checking_only(node):
                kinds.update((id(inner), "typing") for statement in node.body for inner in ast.walk(statement))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                named = [f"{target}.{alias.name}" for alias in node.names]
                targets = [t for t in named if t in sources] or [target]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target in sources and target != name:
                    edges[name].add((target, kinds.get(id(node), "module")))
    return edges


def cycles(edges: dict[str, set[tuple[str, str]]], kinds: tuple[str, ...] = ("module",)) -> list[list[str]]:
    """The import circles through imports of ``kinds`` (each once, as modules returning to the first),
    leaving out :data:`ALLOWED_BACK_EDGES`."""
    graph = {
        name: sorted({t for t, kind in targets if kind in kinds and ALLOWED_BACK_EDGES.get((name, t)) != kind})
        for name, targets in edges.items()
    }
    found, seen = [], set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                circle = path[path.index(nxt) :]
                key = frozenset(circle)
                if key not in seen:
                    seen.add(key)
                    found.append(circle + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def upward_imports(edges: dict[str, set[tuple[str, str]]]) -> list[tuple[str, str]]:
    """``(plugin module, experiments module)`` for every import of the experiments by the plugin."""
    return sorted(
        (name, target)
        for name, targets in edges.items()
        if not (name == EXPERIMENTS or name.startswith(EXPERIMENTS + ".") or name in ON_TOP)
        for target, _ in targets
        if target == EXPERIMENTS or target.startswith(EXPERIMENTS + ".")
    )


ALL_KINDS = ("module", "function", "typing")


def test_the_package_has_no_import_circles():
    edges = import_edges(module_sources())
    assert cycles(edges) == []  # none that Python would meet while importing
    assert cycles(edges, ALL_KINDS) == []  # nor through imports in functions or for type hints


def test_the_plugin_never_imports_the_experiment_machinery():
    assert upward_imports(import_edges(module_sources())) == []


def test_the_cli_and_the_experiments_are_where_the_layout_says():
    sources = module_sources()
    for name in ("recipe", "recipe_spec", "build", "compare", "summary", "figures", "preflight", "checkpoint"):
        assert f"{EXPERIMENTS}.{name}" in sources
    for name in ("trainer", "training_args", "config", "cli"):
        assert f"hf_challenger.{name}" in sources


def test_the_checks_catch_a_plugin_import_of_the_experiments_and_a_circle():
    sources = module_sources()
    sources["hf_challenger.challenge.planted"] = "def f():\n    from ..experiments.recipe import load_recipe\n"
    assert upward_imports(import_edges(sources)) == [("hf_challenger.challenge.planted", f"{EXPERIMENTS}.recipe")]
    sources = module_sources()
    sources[f"{EXPERIMENTS}.errors"] += "\nfrom .recipe import parse_recipe\n"
    found = cycles(import_edges(sources))
    assert found and f"{EXPERIMENTS}.errors" in found[0]
    sources = module_sources()  # the circles the layout removed: through a function and through type hints
    sources[f"{EXPERIMENTS}.errors"] += "\ndef f():\n    from .recipe import parse_recipe\n"
    sources[f"{EXPERIMENTS}.results"] += "\nif TYPE_CHECKING:\n    from .compare import run_comparison\n"
    edges = import_edges(sources)
    assert cycles(edges) == []
    found = cycles(edges, ALL_KINDS)
    for pair in (("errors", "recipe"), ("results", "compare")):
        assert any({f"{EXPERIMENTS}.{name}" for name in pair} <= set(circle) for circle in found), pair
