"""What the plugin adds to a failed conformance test: diagnosis, repro script, report data.

Called from `pytest_runtest_makereport` on the process that ran the test (an xdist worker
too): the results go into the report's sections (printed with the failure) and into the
test's user property (plain values, so they travel to the xdist controller and the JSON).
A diagnosis that errs or runs long never breaks the run: it is reported as unavailable.

The failing example is the recipe in the failure's own "reproduce with:" snippet: the last
example a test ran is not always the failing one (a failing explicit @example is followed by
the others). Without a snippet, the last recorded example is used.
"""
from __future__ import annotations

from pathlib import Path

from conformance.checks.forward import ConformanceFailure
from conformance.diagnosis.diagnose import diagnose
from conformance.diagnosis.repro import checker_in, family_snippet, recipe_in, write_script

SECTION = "conformance diagnosis"
BUDGET = 30.0  # seconds per failure, all calls of the candidate and the reference together


def attach(item, call, report, run, data: dict) -> None:
    """Diagnose the failure of `item`; add a report section and data["failure"]."""
    candidate = getattr(getattr(item, "callspec", None), "params", {}).get("candidate")
    if candidate is None or not hasattr(candidate, "build"):
        return
    failure_exc = conformance_failure(getattr(call.excinfo, "value", None))
    message = str(failure_exc) if failure_exc is not None else ""
    snippet = family_snippet(message)
    try:
        recipe = recipe_in(snippet) if snippet else None
    except Exception:  # an unparsable snippet: fall back to the last example
        recipe = None
    recipe = recipe or getattr(run.current, "last_recipe", None)
    if recipe is None:
        return
    data["failing_features"] = sorted(recipe.features())  # the verdict table blames these
    failure: dict = {"shrunk": repr(recipe),
                     "check": (checker_in(snippet) if snippet else None) or "other"}
    directory = item.config.getoption("conformance_report")
    try:
        if candidate.name in run.hung:
            text = (f"shrunk example: {recipe!r}\nno localization: the candidate hung and is "
                    "not called again")
        else:
            diagnosis = diagnose(candidate, recipe, timeout=run.example_timeout, budget=BUDGET)
            text = diagnosis.text()
            failure["localization"] = _localization(diagnosis)
        if directory:
            failure["repro"] = write_script(directory, candidate, recipe, item.nodeid, message)
    except Exception as exc:  # the diagnosis is a help; it must never break the run
        text = (f"shrunk example: {recipe!r}\ndiagnosis unavailable: "
                f"{type(exc).__name__}: {exc}")
    # The JSON keeps the script's path relative to the report directory (same in every run).
    failure["diagnosis"] = text
    if "repro" in failure:
        text += f"\nrepro script: {Path(directory, failure['repro'])}"
    report.sections.append((SECTION, text))
    data["failure"] = failure


def conformance_failure(exc) -> ConformanceFailure | None:
    """`exc` itself, or the first ConformanceFailure inside an exception group."""
    if isinstance(exc, ConformanceFailure):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = conformance_failure(inner)
        if found is not None:
            return found
    return None


def _localization(diagnosis) -> dict:
    """The machine-readable part: outcome, where, and which mistakes explain it."""
    out = {"outcome": diagnosis.outcome, "explained_by": diagnosis.explained_by,
           "needs": diagnosis.needs}
    d = diagnosis.divergence
    if d is not None:
        out.update(tensor=d.tensor, layer=d.layer, direction=d.direction, batch=d.batch,
                   time_step=d.time_step, source=d.source)
    return out
