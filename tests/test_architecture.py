"""The package's shape: layers point one way, no import cycles, no private names borrowed across modules.

Every import is read from the source, including imports inside functions (which hide cycles from Python but not
from a reader); imports under `if TYPE_CHECKING:` are skipped, as they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "embedproof"

# Lower number = lower layer; a module may import only from its own layer or below (docs/architecture.md).
LAYERS = {
    "types": 0,
    "errors": 0,
    "files": 0,
    "lazy": 0,
    "defaults": 0,
    "memory": 0,
    "backends": 0,
    "datasets": 1,
    "models": 2,
    "testing": 2,
    "vectors": 3,
    "search": 4,
    "evaluation": 5,
    "index": 5,
    "pick": 5,
    "flow": 6,
    "judge": 5,
    "server": 6,
    "cli": 6,
    "__main__": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"


def imports(tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every executed import in the tree."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                found += [(alias.name, [], child.lineno) for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, [alias.name for alias in child.names], child.lineno))
            stack.append(child)
    return found


def internal_edges(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """module → the package modules it imports (`from pkg import submodule` counts as importing the submodule)."""
    edges: dict[str, set[str]] = {name: set() for name in trees}
    for name, tree in trees.items():
        for target, names, _ in imports(tree):
            if not target.startswith("embedproof"):
                continue
            for imported in names:
                if f"{target}.{imported}" in trees:
                    edges[name].add(f"{target}.{imported}")
            if target in trees:
                edges[name].add(target)
    return edges


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else -1


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), package __init__ re-exports excluded."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    unknown = sorted({m.split(".")[1] for m in modules() if "." in m} - set(LAYERS))
    assert unknown == [], f"add these to LAYERS and to docs/architecture.md: {unknown}"


def test_layers_point_one_way():
    trees = modules()
    wrong = []
    for name, tree in trees.items():
        if name == "embedproof" or name.endswith("__init__"):
            continue
        for target, _, line in imports(tree):
            if target.startswith("embedproof.") and layer(target) > layer(name):
                wrong.append(f"{name}:{line} imports {target} (layer {layer(target)} > {layer(name)})")
    assert wrong == [], "\n".join(wrong)


def test_no_import_cycles():
    edges = {name: {t for t in targets} for name, targets in internal_edges(modules()).items()}
    # a package's __init__ names its public API lazily; it is not a dependency of its submodules
    edges = {name: {t for t in targets if t not in edges or not _is_package(t)} for name, targets in edges.items()}
    assert cycles(edges) == []


def package_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """package → the packages its modules import (`embedproof.index.edge.build` is in package `index`)."""

    def package(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else parts[0]

    found: dict[str, set[str]] = {package(name): set() for name in edges}
    for name, targets in edges.items():
        found[package(name)] |= {package(t) for t in targets} - {package(name)}
    return found


def test_no_package_cycles():
    """Between packages too: `evaluation` may not import `pick` if `pick` imports `evaluation`, even lazily."""
    assert cycles(package_edges(internal_edges(modules()))) == []


def test_the_cycle_checks_see_cycles():
    """Both checks find a planted cycle (so an empty answer means none, not a check that sees nothing)."""
    modules_ = {"embedproof.a.x": {"embedproof.b.y"}, "embedproof.b.y": {"embedproof.a.z"}, "embedproof.a.z": set()}
    assert cycles(modules_) == []
    assert cycles(package_edges(modules_)) == [["a", "b"]]


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def test_no_private_name_is_imported_from_another_module():
    borrowed = []
    for name, tree in modules().items():
        for target, names, line in imports(tree):
            if target.startswith("embedproof"):
                borrowed += [
                    f"{name}:{line} imports {target}.{n}" for n in names if n.startswith("_") and n != "__version__"
                ]
    assert borrowed == [], "\n".join(borrowed)
