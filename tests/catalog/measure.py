"""Time to each catalog bug's first failure under the `ci` profile: `python -m tests.catalog.measure`.

Default: one pytest process runs the suite in its own order on every bug with
`--impl-fail-fast`, and a bug's time is the sum of the durations (setup, call, teardown, from
the JUnit XML) of its tests up to and including its first failure: exactly the tests that
`--impl <bug> -x` would run, without the interpreter start and collection every process pays.
`--per-bug` runs one `pytest -x --impl <bug>` process per bug instead and reports its wall time
(those fixed costs included; slower).

Writes a Markdown table (bug, first failing test, seconds) and the median and maximum to
stdout, or to the file given with `--out`. Timings depend on the machine's load.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .runner import all_bugs, failed_tests, run_suite


def _candidate_of(test_name: str, names: list[str]) -> str | None:
    """The candidate parameter of a JUnit test name `t[bug-x-float16]` (longest match)."""
    params = test_name.partition("[")[2].rstrip("]")
    hits = [n for n in names if params == n or params.startswith(n + "-")]
    return max(hits, key=len) if hits else None


def time_to_first_failure(junit: Path, names: list[str]) -> dict[str, float]:
    """Per candidate: seconds in its tests, in run order, up to and including its first failure
    (all its tests if none failed)."""
    spent: dict[str, float] = dict.fromkeys(names, 0.0)
    done: set[str] = set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = _candidate_of(case.get("name", ""), names)
        if name is None or name in done:
            continue
        spent[name] += float(case.get("time", 0.0))
        if case.find("failure") is not None or case.find("error") is not None:
            done.add(name)
    return spent


def measure_single_process(bugs, workdir: Path) -> list[tuple]:
    junit = workdir / "junit.xml"
    run = run_suite([b.ref for b in bugs], workdir,
                    extra=("--impl-fail-fast", f"--junitxml={junit}"))
    spent = time_to_first_failure(junit, [b.name for b in bugs])
    return [(b, (failed_tests(run.candidate(b.name)) or ["(none: escaped)"])[0], spent[b.name])
            for b in bugs]


def measure_per_process(bugs, workdir: Path) -> list[tuple]:
    rows = []
    for b in bugs:
        start = time.perf_counter()
        run = run_suite([b.ref], workdir / b.name, extra=("-x",))
        rows.append((b, (failed_tests(run.candidate(b.name)) or ["(none: escaped)"])[0],
                     time.perf_counter() - start))
        print(f"{b.name}: {rows[-1][2]:.1f} s", file=sys.stderr)
    return rows


def markdown(rows: list[tuple], how: str) -> str:
    seconds = [s for _, _, s in rows]
    slowest = max(rows, key=lambda r: r[2])
    lines = [f"# Time to the first failure per catalog bug ({how})", "",
             f"{len(rows)} bugs; median {statistics.median(seconds):.2f} s, "
             f"max {slowest[2]:.2f} s ({slowest[0].name}).", "",
             "| bug | first failing test | seconds |", "|---|---|---:|"]
    lines += [f"| {b.name} | `{test.split('/')[-1]}` | {s:.2f} |" for b, test, s in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    parser.add_argument("--per-bug", action="store_true",
                        help="one `pytest -x` process per bug (wall time, startup included)")
    parser.add_argument("-k", dest="only", default="",
                        help="only bugs whose name contains this string")
    args = parser.parse_args(argv)
    bugs = [b for b in all_bugs() if args.only in b.name]
    if not bugs:
        parser.error(f"no catalog bug matches {args.only!r}")
    with tempfile.TemporaryDirectory(prefix="catalog-measure-") as tmp:
        if args.per_bug:
            rows, how = measure_per_process(bugs, Path(tmp)), "one `pytest -x` process per bug, wall time"
        else:
            rows, how = measure_single_process(bugs, Path(tmp)), \
                "suite order, seconds in the bug's tests up to its first failure"
    text = markdown(rows, how)
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 1 if any(test.startswith("(none") for _, test, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
