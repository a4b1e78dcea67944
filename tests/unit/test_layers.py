"""The packages depend on each other one way: cli → web → api → runner → store → host → domain.

Read from the source (every import, those under TYPE_CHECKING and inside functions too),
so a dependency pointing the wrong way fails here before it can form a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import queuectl

PACKAGE = Path(queuectl.__file__).parent

#: What each layer may import besides itself (the root package re-exports the public API).
ALLOWED = {
    "domain": set(),
    "host": {"domain"},
    "store": {"domain", "host"},
    "runner": {"domain", "host", "store"},
    "api": {"domain", "host", "store", "runner"},
    "cli": {"domain", "host", "api", "web", "<root>"},
    "web": {"domain", "host", "api"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "<root>"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {n for n in names if n == "queuectl" or n.startswith("queuectl.")}


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("queuectl", *path.relative_to(PACKAGE).with_suffix("").parts))
        layer = layer_of(module)
        if layer == "<root>":
            continue  # __init__ and __main__ front the whole package
        for name in imported(path):
            target = layer_of(name)
            if target != layer and target not in ALLOWED[layer]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_no_module_uses_private_interpreter_functions_or_ctypes() -> None:
    banned = {"ctypes", "_posixsubprocess"}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in banned]
    assert found == []
