"""What the plugin adds to a failed conformance test: diagnosis, repro script, report data.

Called from `pytest_runtest_makereport` on the process that ran the test (an xdist worker
too): the results go into the report's sections (printed with the failure) and into the
test's user property (plain values, so they travel to the xdist controller and the JSON).
A diagnosis that errs or runs long never breaks the run: it is reported as unavailable.
"""
from __future__ import annotations

from pathlib import Path

from .diagnose import diagnose
from .repro import write_script

SECTION = "conformance diagnosis"
BUDGET = 30.0  # seconds per failure, all calls of the candidate and the reference together


def attach(item, call, report, run, data: dict) -> None:
    """Diagnose the failure of `item`; add a report section and data["failure"]."""
    recording = run.current
    candidate = getattr(getattr(item, "callspec", None), "params", {}).get("candidate")
    recipe = getattr(recording, "last_recipe", None)
    if candidate is None or recipe is None or not hasattr(candidate, "build"):
        return
    failure: dict = {"shrunk": repr(recipe)}
    try:
        if candidate.name in run.hung:
            text = (f"shrunk example: {recipe!r}\nno localization: the candidate hung and is "
                    "not called again")
        else:
            diagnosis = diagnose(candidate, recipe, timeout=run.example_timeout, budget=BUDGET)
            text = diagnosis.text()
            failure["localization"] = _localization(diagnosis)
        directory = item.config.getoption("conformance_report")
        if directory:
            message = str(call.excinfo.value) if call.excinfo is not None else ""
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


def _localization(diagnosis) -> dict:
    """The machine-readable part: outcome, where, and which mistakes explain it."""
    out = {"outcome": diagnosis.outcome, "explained_by": diagnosis.explained_by}
    d = diagnosis.divergence
    if d is not None:
        out.update(tensor=d.tensor, layer=d.layer, direction=d.direction, batch=d.batch,
                   time_step=d.time_step, source=d.source)
    return out
