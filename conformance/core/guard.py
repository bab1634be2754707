"""Calling candidate code safely: a time limit per call, and captured prints.

A hanging candidate must not hang the run, and a chatty one must not garble pytest's or
xdist's output; both get one clear message naming the candidate. In a sandbox worker the
limit of the call in progress is also published to the parent (`SHARED_DEADLINE`), which
kills the worker when SIGALRM cannot interrupt a native call.
"""
from __future__ import annotations

import contextlib
import io
import signal
import threading
import time
import warnings

GRACE = 1.0  # seconds the parent waits past a call's limit before killing the worker
SHARED_DEADLINE = None  # in a worker: (multiprocessing Value 'd', Array 'c') for the parent


class CandidateTimeout(Exception):
    """The candidate did not return within the per-example time limit."""


class CandidatePrintedWarning(UserWarning):
    """The candidate wrote to stdout/stderr while being checked."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str):
    """Raise CandidateTimeout in this thread after `seconds` (main thread on Unix only).

    SIGALRM interrupts Python code, including a `while True` loop in the candidate; a single
    C call that never returns cannot be interrupted this way (the sandbox's parent kills
    the worker then), and neither can other threads.
    """
    usable = (seconds and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def expire(signum, frame):
        raise CandidateTimeout(f"{what} did not return within {seconds:g} s "
                               "(--conformance-example-timeout): it hangs or is far too slow")

    previous = signal.signal(signal.SIGALRM, expire)
    outer = _publish(time.monotonic() + seconds + min(GRACE, seconds), what)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _publish(*outer)


def _publish(deadline: float, what: str) -> tuple:
    """Tell the parent (if any) when the call in progress is due; return what was there."""
    if SHARED_DEADLINE is None:
        return (0.0, "")
    value, label = SHARED_DEADLINE
    before = (value.value, label.value.decode(errors="replace"))
    value.value = deadline
    label.value = what.encode()[: len(label) - 1]
    return before


_warned: set[str] = set()


@contextlib.contextmanager
def captured_output(candidate_name: str):
    """Swallow the candidate's prints; warn once per candidate with the first line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield
    warn_printed(candidate_name, out.getvalue() + err.getvalue())


def warn_printed(candidate_name: str, text: str) -> None:
    text = text.strip()
    if text and SHARED_DEADLINE is not None:  # in a worker: the parent warns
        print(text)
    elif text and candidate_name not in _warned:
        _warned.add(candidate_name)
        first = text.splitlines()[0][:120]
        warnings.warn(CandidatePrintedWarning(
            f"candidate {candidate_name!r} printed while being checked (first line: {first!r}); "
            "output is discarded so it cannot garble the run"), stacklevel=1)
