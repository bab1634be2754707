"""A catalog entry and the `@bug` class decorator that every catalog module uses.

Each catalog module (bugs, bugs_beyond, bugs_gradients) makes its own decorator with
`bug_decorator`, so that a bug's build function lives in that module's namespace and
`--impl tests.catalog.<module>:<attr>` loads it.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import conformance


@dataclass(frozen=True)
class Bug:
    name: str  # registered candidate name, "bug-<slug>"
    module: str  # the catalog module that defines it
    attr: str  # its build function there: --impl <module>:<attr>
    needs: str  # minimal condition that exposes it
    doc: str  # what the bug is
    # The suite module that catches it (a hint for the catalog self-test's order, which it
    # runs first for this bug: with fail-fast, a bug costs the tests it passes before that
    # one). Empty: its control's order.
    first: str = ""

    @property
    def ref(self) -> str:
        return f"{self.module}:{self.attr}"


def bug_decorator(namespace: dict, catalog: list[Bug], name_prefix: str, attr_prefix: str):
    """The `@bug(slug, unsupported=(), first="")` class decorator of one catalog module.

    It registers the decorated class as candidate `<name_prefix><slug>`, puts its build function
    `<attr_prefix><slug>` into `namespace` (the module's globals) and appends a `Bug` to
    `catalog`. The class docstring's ``Needs:`` line is the minimal exposing condition.
    """
    module = namespace["__name__"]

    def bug(slug: str, unsupported=(), first: str = ""):
        def decorate(cls):
            doc = inspect.cleandoc(cls.__doc__ or "")
            what, sep, needs = doc.partition("\nNeeds:")
            if not sep:
                raise ValueError(f"{cls.__name__}: the docstring needs a 'Needs:' line")
            attr = attr_prefix + slug.replace("-", "_")
            name = name_prefix + slug

            def build(spec, params):
                return cls(spec, params)

            build.__name__ = build.__qualname__ = attr
            build.__module__ = module
            build.__doc__ = doc
            namespace[attr] = conformance.register(name, unsupported=unsupported)(build)
            catalog.append(Bug(name, module, attr, " ".join(needs.split()), " ".join(what.split()),
                               first))
            return cls

        return decorate

    return bug
