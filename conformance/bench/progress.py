"""Progress of a benchmark run: which target and size, done/total, elapsed.

Every per-target pytest process writes one JSON line per benchmark item to the file named by
$LSTM_CONFORMANCE_BENCH_EVENTS (`EventWriter`, registered by the bench pytest plugin): when
it starts and how it ended (with the reason of a failure or skip). `lstm-conformance bench`
reads them to show a progress line on stderr when stderr is a terminal — nothing when it is
not — and to report why a target failed.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

EVENTS_ENV = "LSTM_CONFORMANCE_BENCH_EVENTS"
MODULE = "test_bench_lstm"
_TESTS = {"test_forward": "fwd", "test_forward_backward": "fwd+bwd"}
_ID = re.compile(r"^(?P<test>\w+)\[(?P<target>.*)-(?P<size>N\d+-T\d+-I\d+-H\d+)\]$")


def describe(nodeid: str) -> dict | None:
    """{'target', 'size', 'direction'} of a benchmark item's node id (None for others)."""
    match = _ID.match(nodeid.rsplit("::", 1)[-1])
    if not match or match["test"] not in _TESTS:
        return None
    return {"target": match["target"], "size": match["size"],
            "direction": _TESTS[match["test"]]}


def _short(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    text = getattr(report, "longreprtext", "") or str(report.longrepr or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # a ConformanceFailure's message starts with what differs; keep a few lines of it
    errors = [line[2:] for line in lines if line.startswith("E ")] or lines[-3:]
    return " ".join(errors[:4])[:500]


class EventWriter:
    """pytest plugin: one JSON line per benchmark item, when it starts and when it ends."""

    def __init__(self, path: str):
        self.path = Path(path)

    def _write(self, event: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(event) + "\n")

    def pytest_runtest_logstart(self, nodeid, location):
        if describe(nodeid):
            self._write({"event": "start", "nodeid": nodeid, "time": time.time()})

    def pytest_runtest_logreport(self, report):
        if not describe(report.nodeid):
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._write({"event": "end", "nodeid": report.nodeid, "outcome": report.outcome,
                         "message": "" if report.passed else _short(report)})


def read_events(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """The complete lines written since `offset`, and the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return events, offset + end


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """A one-line progress display on a terminal; does nothing when `stream` is not one."""

    def __init__(self, total: int, stream=None, enabled: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) if enabled is None else enabled
        self.total = total
        self.done = 0
        self.started = time.time()
        self.current = ""
        self.shown = False
        self.last = ""

    def event(self, target: str, event: dict) -> None:
        item = describe(event["nodeid"]) or {}
        if event["event"] == "end":
            self.done += 1
        else:
            self.current = f"{item.get('size', '?')} {item.get('direction', '?')}"
        self.show(target)

    def show(self, target: str) -> None:
        if not self.enabled:
            return
        line = (f"[{self.done}/{self.total}] {target} {self.current}  "
                f"elapsed {elapsed(time.time() - self.started)}")
        if self.shown and line == self.last:
            return
        self.last = line
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def message(self, text: str) -> None:
        """A line of its own (a target's result), above the progress line."""
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
