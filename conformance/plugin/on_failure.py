"""What the plugin adds to a failed conformance test: diagnosis, repro script, report data.

Called from `pytest_runtest_makereport` on the process that ran the test (an xdist worker
too): the results go into the report's sections (printed with the failure) and into the
test's user property (plain values, so they travel to the xdist controller and the JSON).
A diagnosis that errs or runs long never breaks the run: it is reported as unavailable.

The failing example is the one in the raised `Failure` (the last example a test ran is not
always the failing one: a failing explicit @example is followed by the others); without a
Failure (the test failed some other way), the last recorded example is used.
"""
from __future__ import annotations

from pathlib import Path

from conformance.core.failures import failure_of
from conformance.diagnosis.diagnose import diagnose
from conformance.diagnosis.repro import write_script

SECTION = "conformance diagnosis"


def attach(item, call, report, run, data: dict) -> None:
    """Diagnose the failure of `item`; add a report section and data["failure"]."""
    candidate = getattr(getattr(item, "callspec", None), "params", {}).get("candidate")
    if candidate is None or not hasattr(candidate, "build"):
        return
    failure = failure_of(getattr(call.excinfo, "value", None))
    recipe = failure.recipe if failure is not None else None
    recipe = recipe or getattr(run.current, "last_recipe", None)
    if recipe is None:
        return
    data["failing_features"] = sorted(recipe.features())
    found: dict = failure.as_dict() if failure is not None else {"check": "other"}
    directory = item.config.getoption("conformance_report")
    budget = item.config.getoption("conformance_diagnosis_budget")
    try:
        if budget == 0:
            text = f"shrunk example: {recipe!r}\nno diagnosis (--conformance-diagnosis-budget 0)"
        else:
            diagnosis = diagnose(candidate, recipe, budget=budget, failure=failure)
            text = diagnosis.text()
            found["localization"] = _localization(diagnosis)
            if failure is not None:
                failure.localization = found["localization"]
        if failure is not None and directory:
            found["repro"] = write_script(directory, failure, item.nodeid)
    except Exception as exc:  # the diagnosis is a help; it must never break the run
        text = (f"shrunk example: {recipe!r}\ndiagnosis unavailable: "
                f"{type(exc).__name__}: {exc}")
    # The JSON keeps the script's path relative to the report directory (same in every run).
    found["diagnosis"] = text
    if "repro" in found:
        text += f"\nrepro script: {Path(directory, found['repro'])}"
    report.sections.append((SECTION, text))
    data["failure"] = found


def _localization(diagnosis) -> dict:
    """The machine-readable part: outcome, where, which mistakes explain it, what it needs."""
    out = {"outcome": diagnosis.outcome, "explained_by": diagnosis.explained_by,
           "needs": diagnosis.needs, "probe_check": diagnosis.probe_check}
    d = diagnosis.divergence
    if d is not None:
        out.update(tensor=d.tensor, layer=d.layer, direction=d.direction, batch=d.batch,
                   time_step=d.time_step, source=d.source)
    return out
