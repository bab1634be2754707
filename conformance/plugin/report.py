"""`--conformance-report DIR`: the verdicts as JSON and as a Markdown table.

The content depends only on the test outcomes, never on timing or on the order reports
arrive in, so a run under xdist (`-n 2`) writes the same files as a run without it (with the
same `--hypothesis-seed`; the ci profile fixes one).
"""
from __future__ import annotations

import json
from pathlib import Path

from conformance.model.features import COLUMNS, FEATURES
from conformance.plugin.verdict import Verdicts

JSON_NAME = "conformance-report.json"
MARKDOWN_NAME = "conformance-report.md"


def report_data(verdicts: Verdicts, candidates, profile: str, devices) -> dict:
    out = {"columns": list(COLUMNS), "profile": profile, "devices": list(devices),
           "candidates": []}
    for c in candidates:
        row = verdicts.rows[c.name]
        out["candidates"].append({
            "name": c.name,
            "origin": c.origin,
            "load_error": row.broken,
            "unavailable": getattr(c, "reason", None),
            "versions": dict(sorted(getattr(c, "versions", {}).items())),
            "unsupported": sorted(getattr(c, "unsupported", ())),
            "xfail": dict(sorted(getattr(c, "xfail", {}).items())),
            "features": {col: dict(zip(("status", "examples"), verdicts.status(c.name, col)))
                         for col in COLUMNS},
            "tests": {t[0]: t[2] for t in sorted(row.tests)},
            "failures": sorted(row.failures, key=lambda f: f["test"]),
            "summary": verdicts.summary(c.name),
        })
    return out


def markdown(data: dict) -> str:
    columns = data["columns"]
    lines = ["# LSTM conformance report", "",
             f"Hypothesis profile `{data['profile']}`; devices: {', '.join(data['devices'])}.", "",
             "| candidate | " + " | ".join(columns) + " |",
             "|---|" + "---|" * len(columns)]
    for cand in data["candidates"]:
        cells = []
        for col in columns:
            f = cand["features"][col]
            cells.append(f"pass ({f['examples']})" if f["status"] == "pass"
                         else f"**{f['status'].upper()}**" if f["status"] in ("fail", "xpass", "error")
                         else f["status"])
        lines.append(f"| {cand['name']} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: pass (examples that used the feature), FAIL, unsupported (declared), "
              "xfail (failed as declared), XPASS (declared xfail but passed), not run.", ""]
    for cand in data["candidates"]:
        if cand["load_error"]:
            lines += [f"## {cand['name']}: did not load", "", "```", cand["load_error"], "```", ""]
        if not cand["failures"]:
            continue
        lines += [f"## {cand['name']}: {len(cand['failures'])} failing test(s)", ""]
        if cand.get("summary"):
            lines += [cand["summary"], ""]
        for failure in cand["failures"]:
            lines += [f"### `{failure['test']}`", "",
                      f"Features: {', '.join(failure['columns'])}", "", "```",
                      failure["message"], "```", ""]
            if failure.get("diagnosis"):
                lines += ["Diagnosis:", "", "```", failure["diagnosis"], "```", ""]
            if failure.get("repro"):
                lines += [f"Reproduce (in this report's directory): `python {failure['repro']}`",
                          ""]
    return "\n".join(lines)


def write_report(directory: str | Path, data: dict) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / JSON_NAME, directory / MARKDOWN_NAME
    json_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    md_path.write_text(markdown(data) + "\n")
    return [json_path, md_path]


assert set(COLUMNS[1:]) == set(FEATURES)
