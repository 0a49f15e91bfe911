"""The package's parts import one way only (ARCHITECTURE.md, "The parts, lowest first"), and
only the command line reads the config: checked on the source of every module, function-level
imports included."""

import ast
from pathlib import Path

import fcn_jax

# lowest first; a part may import itself and any part on an earlier line, never a later one
ORDER = [
    {"geometry", "viz", "data", "names"},
    {"kernels"},
    {"models"},
    {"weights"},
    {"train"},
    {"predict"},
    {"export"},
    {"cli"},
]
ROOT = Path(fcn_jax.__file__).parent


def imports(path: Path) -> set[str]:
    """Every ``fcn_jax.*`` module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name.startswith("fcn_jax.")}


def part(module: str) -> str:
    return module.split(".")[1]


def rank(name: str) -> int:
    return next(i for i, parts in enumerate(ORDER) if name in parts)


def test_every_part_is_in_the_order():
    parts = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    parts |= {p.stem for p in ROOT.glob("*.py") if p.stem not in ("__init__", "default_config")}
    assert parts == set().union(*ORDER)


def test_parts_import_only_parts_below_them():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        here = part(".".join(path.relative_to(ROOT.parent).with_suffix("").parts) + ".x")
        if here in ("__init__", "default_config"):
            continue
        for name in sorted(imports(path)):
            there = part(name + ".x")
            if there != "default_config" and rank(there) > rank(here):
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not upward, "\n".join(upward)


def test_only_the_command_line_reads_the_default_config():
    readers = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if "fcn_jax.default_config" in imports(path) and path.relative_to(ROOT).parts[0] != "cli"
    ]
    assert not readers
