"""The package's layers, read from the imports themselves.

    model      what an example is: spec, cases, features, strategies, pins, known answers
    core       registry, invocation, sandbox, oracle, tolerance, comparison, failures
    checks     the check families
    diagnosis  localization, explanation, the probe, summaries, repro scripts
    plugin     the pytest plugin
    suite      the conformance test modules

    bench      the benchmarks (beside the layers: model, core and checks below it)

A layer imports only from itself and the layers before it; pytest only in plugin, suite and
bench (and cli); the candidates (impls) only the public `conformance` face.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "conformance"
IMPLS = Path(__file__).resolve().parent.parent / "impls"
ORDER = ["model", "core", "checks", "diagnosis", "plugin", "suite"]
BESIDE = {"bench": {"model", "core", "checks", "bench", "plugin"}}  # plugin: the run's candidates
TOP = {"__init__", "_compat", "cli"}  # the public face, aliases, the command
MAX_LINES = 400


def imports_of(path: Path) -> list[tuple[str, int]]:
    """Absolute module names imported by `path` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((module, node.lineno))
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "conformance":
        return None
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "impls" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_layer_imports_only_itself_and_the_layers_before_it(path):
    own = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    if own in TOP or own not in ORDER and own not in BESIDE:
        return
    allowed = BESIDE[own] if own in BESIDE else set(ORDER[: ORDER.index(own) + 1])
    wrong = []
    for module, line in imports_of(path):
        target = layer_of(module)
        if target is None or target in allowed or target == "__init__" and own in ("suite", "bench"):
            continue
        if target in ORDER or target in BESIDE or target == "__init__":
            wrong.append(f"line {line}: {module} ({target})")
    assert not wrong, f"{path.name} ({own}) may import {sorted(allowed)} only: {wrong}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_plugin_and_the_suite_import_pytest(path):
    layer = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    if layer in ("plugin", "suite", "cli") or layer == "bench" and path.stem in (
            "plugin", "test_bench_lstm", "cli"):
        return
    uses = [line for module, line in imports_of(path) if module.split(".")[0] == "pytest"]
    assert not uses, f"{path.relative_to(PACKAGE)} imports pytest at lines {uses}"


@pytest.mark.parametrize("path", sorted(IMPLS.glob("*.py")), ids=lambda p: p.name)
def test_candidates_use_only_the_public_face(path):
    private = [f"line {line}: {module}" for module, line in imports_of(path)
               if module.startswith("conformance.") and not module.startswith("conformance.impls")
               and module.split(".")[1] in ORDER]
    assert not private, f"{path.name} reaches into the package's internals: {private}"


@pytest.mark.parametrize("path", modules() + sorted(IMPLS.glob("*.py")),
                         ids=lambda p: p.name)
def test_no_module_over_the_size_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name}: {lines} lines (limit {MAX_LINES}): split it"


def test_the_checker_reads_imports():  # a meta-test: the rule above can fail
    sample = PACKAGE / "model" / "cases.py"
    assert any(module.startswith("conformance.model") for module, _ in imports_of(sample)) \
        or any(module == "torch" for module, _ in imports_of(sample))
    assert layer_of("conformance.plugin.session") == "plugin"
    assert layer_of("conformance") == "__init__"
