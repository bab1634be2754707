"""A failure as data: what a check found, carried unchanged to the verdict, report and repro.

A check that finds a difference builds a `Failure` (the candidate, the example, the check and
its arguments, one `Problem` per difference) and raises it inside `ConformanceFailure`. The
message pytest shows is *rendered* from these fields; nothing downstream parses it. The
plugin adds the localization; the report, the verdict and the repro scripts read the fields.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace

from conformance.model.cases import CaseRecipe

# How a failure came about. "mismatch": results differ from nn.LSTM's (or from the
# candidate's own, for self-consistency checks); "raised": the candidate raised where nn.LSTM
# does not; the others are reported by the sandbox when the candidate's process is lost.
KINDS = ("mismatch", "raised", "crashed", "timeout", "memory")


@dataclass(frozen=True)
class Problem:
    """One difference: a tensor comparison (the numeric fields), described by `text` if
    given, or only `text`."""

    text: str = ""
    tensor: str | None = None  # "output", "h_n[:2] (the first layer's final state)", ...
    index: tuple | None = None  # first element out of tolerance, row-major
    got: float | None = None
    reference: float | None = None  # nn.LSTM in the candidate's dtype
    truth: float | None = None  # nn.LSTM in float64
    error: float | None = None
    allowed: float | None = None
    bad: int = 0  # elements out of tolerance
    total: int = 0
    max_abs: float | None = None
    max_rel: float | None = None
    against: str = "nn.LSTM"  # what the tensor was compared with
    # Set where every element is within its allowance but the tensor as a whole is not: its
    # root-mean-square error, and the allowed (tolerance.py, Tolerance.rms_allowed).
    rms_error: float | None = None
    rms_allowed: float | None = None
    context: str = ""  # which call or mode of the check, printed first
    note: str = ""  # why it matters, printed last

    def within(self, context: str) -> "Problem":
        """The same problem, found in `context` (a call or mode of the check)."""
        return replace(self, context=f"{context}: {self.context}" if self.context else context)

    def render(self) -> str:
        if self.text or self.tensor is None:
            body = self.text
        elif self.rms_error is not None:
            body = (f"{self.tensor} differs from {self.against} throughout: root-mean-square "
                    f"error {self.rms_error:.3g} over its {self.total} elements > allowed "
                    f"{self.rms_allowed:.3g}, every element within its own allowance (closest "
                    f"at index {self.index}: got {self.got:.7g}, {self.against} "
                    f"{self.reference:.7g} (float64: {self.truth:.7g}), error "
                    f"{self.error:.3g} of allowed {self.allowed:.3g}); max abs error "
                    f"{self.max_abs:.3g}, max rel error {self.max_rel:.3g}")
        else:
            body = (f"{self.tensor} differs from {self.against} at index {self.index}: got "
                    f"{self.got:.7g}, {self.against} {self.reference:.7g} (float64: "
                    f"{self.truth:.7g}), error {self.error:.3g} > allowed {self.allowed:.3g}; "
                    f"{self.bad} of {self.total} elements out of tolerance, max abs error "
                    f"{self.max_abs:.3g}, max rel error {self.max_rel:.3g}")
        prefix = f"{self.context}: " if self.context else ""
        suffix = f": {self.note}" if self.note else ""
        return prefix + body + suffix

    __str__ = render


def as_problem(value) -> Problem:
    return value if isinstance(value, Problem) else Problem(text=str(value))


@dataclass
class Failure:
    """Everything known about one failing example of one check."""

    candidate: str  # the candidate's name (table row)
    loadable: str  # what `conformance` loads it by again: entry-point name or module:attr
    recipe: CaseRecipe | None
    checker: str  # the public function that re-runs the check, e.g. "check_streaming"
    checker_module: str  # where it is defined
    checker_args: dict = field(default_factory=dict)  # keyword arguments after the recipe
    problems: list = field(default_factory=list)  # [Problem]
    kind: str = "mismatch"
    localization: dict | None = None  # added by the diagnosis
    arguments: tuple | None = None  # the check's positional arguments; default (recipe,)

    def __post_init__(self):
        self.problems = [as_problem(p) for p in self.problems]

    @property
    def features(self) -> list[str]:
        return sorted(self.recipe.features()) if self.recipe is not None else []

    def reproduction(self) -> str:
        """Python that rebuilds this example and re-runs the check (raises while it fails)."""
        args = "".join(f", {a!r}" for a in self.positional())
        args += "".join(f", {k}={v!r}" for k, v in self.checker_args.items())
        return ("import torch\n"
                "from conformance import CaseRecipe, LSTMSpec\n"
                f"from {self.checker_module} import {self.checker}\n"
                f"{self.checker}({self.loadable!r}{args})")

    def positional(self) -> tuple:
        if self.arguments is not None:
            return tuple(self.arguments)
        return (self.recipe,) if self.recipe is not None else ()

    def render(self) -> str:
        """The one failure format of every family: what differed, the case, how to reproduce."""
        lines = [f"candidate {self.candidate!r} does not match torch.nn.LSTM:"]
        lines += [f"  - {p.render()}" for p in self.problems]
        if self.recipe is not None:
            lines += [f"  spec:     {self.recipe.spec!r}",
                      f"  input:    {self.recipe.describe()}",
                      f"  features: {', '.join(self.features)}"]
        lines.append("  reproduce with:")
        lines += ["      " + line for line in self.reproduction().splitlines()]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """Plain values for the report and for pytest-xdist (user_properties)."""
        return {"candidate": self.candidate, "kind": self.kind, "check": self.checker,
                "check_module": self.checker_module, "check_args": dict(self.checker_args),
                "shrunk": repr(self.recipe) if self.recipe is not None else None,
                "features": self.features,
                "problems": [p.render() for p in self.problems],
                "reproduce": self.reproduction()}

    def rerun(self):
        """Run the failing check again on the same example (raises while it still fails)."""
        module = importlib.import_module(self.checker_module)
        return getattr(module, self.checker)(self.loadable, *self.positional(),
                                             **self.checker_args)


class ConformanceFailure(AssertionError):
    """A candidate does not behave like nn.LSTM on one example. `.failure` holds the data.

    An AssertionError, so that Hypothesis shrinks the example.
    """

    def __init__(self, failure: Failure | str):
        self.failure = failure if isinstance(failure, Failure) else None
        super().__init__(failure.render() if isinstance(failure, Failure) else failure)

    def __reduce__(self):  # travels between processes with its data
        return (ConformanceFailure, (self.failure or self.args[0],))


def failure_of(exc) -> Failure | None:
    """The Failure inside `exc`, an exception group of them, or its cause."""
    if isinstance(exc, ConformanceFailure):
        return exc.failure
    for inner in getattr(exc, "exceptions", ()):
        found = failure_of(inner)
        if found is not None:
            return found
    return None
