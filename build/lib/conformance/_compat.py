"""Old module names, so that reproduction snippets printed before the package was layered
(`from conformance.metamorphic import check_streaming`, ...) keep working.

A finder on `sys.meta_path` answers an old name with the module that now holds its code.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "conformance.check": "conformance.checks.forward",
    "conformance.metamorphic": "conformance.checks.metamorphic",
    "conformance.dropout": "conformance.checks.dropout",
    "conformance.invalid": "conformance.checks.invalid",
    "conformance.gradients": "conformance.checks.gradients",
    "conformance.known_answers": "conformance.checks.known_answers",
    "conformance.capabilities": "conformance.checks.capabilities",
    "conformance.cases": "conformance.model.cases",
    "conformance.spec": "conformance.model.spec",
    "conformance.pins": "conformance.model.pins",
    "conformance.strategies": "conformance.model.strategies",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        pass  # already executed under its new name


def install() -> None:
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
