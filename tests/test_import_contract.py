"""The layers' import contract, read from the source (every import statement, also those inside
functions): ``core`` is a pure library, ``train`` and ``launch`` and ``report`` know nothing of
Dagster (the trainer reports progress through ``dagster_pipes`` only), and no layer imports one
above it. ``defs`` (the Dagster layer) and the top-level entry points may import anything.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nas_assets"

HEAVY = ("dagster", "dagster_webserver", "dagster_duckdb", "torch", "lightning", "matplotlib")
#: layer -> modules it must not import (a name forbids the module and everything under it)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": (*HEAVY, "dagster_pipes", "nas_assets.train", "nas_assets.launch", "nas_assets.report",
             "nas_assets.defs", "nas_assets.cli", "nas_assets.demo", "nas_assets.query_api"),
    "train": ("dagster", "dagster_webserver", "dagster_duckdb", "matplotlib", "nas_assets.defs",
              "nas_assets.report", "nas_assets.cli", "nas_assets.demo", "nas_assets.query_api"),
    "launch": (*HEAVY, "nas_assets.train", "nas_assets.defs", "nas_assets.report", "nas_assets.cli",
               "nas_assets.demo", "nas_assets.query_api"),
    "report": ("dagster", "dagster_webserver", "dagster_duckdb", "dagster_pipes", "torch", "lightning",
               "nas_assets.train", "nas_assets.launch", "nas_assets.defs", "nas_assets.cli",
               "nas_assets.demo",
               "nas_assets.query_api"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file; relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def violations(layer: str) -> list[str]:
    rules = FORBIDDEN[layer]
    bad = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in imported_modules(path):
            if any(module == rule or module.startswith(rule + ".") for rule in rules):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return sorted(set(bad))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_keeps_its_imports(layer):
    assert violations(layer) == []


def test_the_check_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    fake = tmp_path / "nas_assets" / "core"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "bad.py").write_text("def f():\n    import torch\n    from ..defs import resources\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "nas_assets")
    assert violations("core") == ["nas_assets/core/bad.py:2 imports torch",
                                  "nas_assets/core/bad.py:3 imports nas_assets.defs",
                                  "nas_assets/core/bad.py:3 imports nas_assets.defs.resources"]


def cross_subpackage_private_imports() -> list[str]:
    """``from nas_assets.core.<other> import _name`` in a module of another core subpackage."""
    bad = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        parts = path.relative_to(PACKAGE / "core").parts
        own = parts[0] if len(parts) > 1 else None
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ImportFrom) and node.module
                    and node.module.startswith("nas_assets.core.")):
                theirs = node.module.split(".")[2]
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and theirs != own:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {private} "
                               f"from {node.module}")
    return bad


def test_core_subpackages_share_public_names_only():
    assert cross_subpackage_private_imports() == []
