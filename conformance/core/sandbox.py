"""Isolation: each candidate's checks run in a worker process that the run can afford to lose.

A candidate is native code as often as not (a compiled kernel, an export run by another
runtime). If it aborts, segfaults, calls `os._exit`, never returns from a C call or
allocates without bound, only its worker goes; the check that was running becomes a
`Failure` naming what happened (signal, exit code, time limit, memory), Hypothesis shrinks
the example as for any failure, and the next check gets a fresh worker.

Workers are forked from the test process when the candidate is first checked, so they
inherit the loaded candidate, sys.path and settings (spawned instead, and the candidate
loaded again by name, once CUDA is initialized here: a forked child cannot use it). The
whole check runs in the worker, nn.LSTM's reference runs included: only the check's request
and its outcome (a Failure, or a small return value) cross the pipe, which keeps the cost per
example to a few hundred microseconds.

The per-call time limit is enforced twice: inside the worker by SIGALRM (which interrupts a
Python loop and gives the cleanest message), and by the parent, which kills the worker a
grace period after the limit, because SIGALRM cannot interrupt native code.
"""
from __future__ import annotations

import faulthandler
import gc
import importlib
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import time
import traceback

from conformance.core import guard, registry
from conformance.core.failures import ConformanceFailure, Failure, Problem

POLL = 0.02  # seconds between the parent's checks of a busy worker
MIB = 1 << 20
DEFAULT_MEMORY_LIMIT_MIB = 4096  # resident memory a worker may grow by


class Settings:
    isolation: bool = False  # the plugin turns it on for a suite run
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT_MIB * MIB
    # After a hang, a test's further examples get this much time per call (tiny examples run
    # in milliseconds), so that shrinking a hanging example does not cost the full limit at
    # every step (reset by `new_test`).
    after_hang: float | None = None


AFTER_HANG = 0.5  # seconds per call for the rest of a test that hung


IN_WORKER = False
_workers: dict[tuple, "Worker"] = {}


def configure(isolation: bool, memory_limit_mib: float | None = DEFAULT_MEMORY_LIMIT_MIB):
    Settings.isolation = isolation and hasattr(os, "fork")
    Settings.memory_limit = int(memory_limit_mib * MIB) if memory_limit_mib else None


def dispatch(check, candidate, args: tuple, kwargs: dict):
    """Run `check` (a `@checker` or any module-level function of the candidate) where it
    belongs: in the candidate's worker when isolating, else here."""
    function = getattr(check, "in_process", check)
    if IN_WORKER or not Settings.isolation:
        return function(candidate, *args, **kwargs)
    key = (candidate.name, candidate.origin, id(candidate.build))
    worker = _workers.get(key)
    if worker is None or not worker.alive():
        worker = _workers[key] = Worker(candidate)
    return worker.run(check, candidate, args, kwargs)


def call(function, candidate, *args, **kwargs):
    """`function(candidate, *args, **kwargs)` in the candidate's worker (see dispatch)."""
    return dispatch(function, registry.load(candidate), args, kwargs)


def new_test() -> None:
    Settings.after_hang = None


def shutdown() -> None:
    for worker in list(_workers.values()):
        worker.stop()
    _workers.clear()


class RemoteError(Exception):
    """The traceback of an exception raised in the worker (not by the candidate's calls)."""

    def __str__(self):
        return "\n" + (self.args[0] if self.args else "")


class Worker:
    """One candidate's process, and the parent's watch over it."""

    def __init__(self, candidate):
        import torch  # here: only a run that isolates needs to know about CUDA

        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        context = multiprocessing.get_context("spawn" if cuda else "fork")
        if not cuda:
            _prewarm()
        self.candidate = candidate
        self.deadline = context.Value("d", 0.0, lock=False)
        self.label = context.Array("c", 240, lock=False)
        self.conn, child = context.Pipe()
        target = candidate if not cuda else registry.loadable_name(candidate)
        self.process = context.Process(target=_serve, daemon=True, args=(
            target, child, self.deadline, self.label, torch.get_num_threads()))
        self.process.start()
        child.close()
        self.baseline = _rss(self.process.pid)

    def alive(self) -> bool:
        return self.process.is_alive()

    def run(self, check, candidate, args, kwargs):
        timeout = guard_timeout()
        request = (check.__module__, check.__name__, args, kwargs, timeout)
        try:
            self.conn.send_bytes(pickle.dumps(request))
        except (BrokenPipeError, OSError):
            return self._lost(check, candidate, args, kwargs,
                              "its worker was gone before the check started")
        while True:
            if self.conn.poll(POLL):
                try:
                    tag, value, printed = pickle.loads(self.conn.recv_bytes())
                except (EOFError, OSError):
                    return self._lost(check, candidate, args, kwargs, None)
                break
            due = self.deadline.value
            if due and time.monotonic() > due:
                what = self.label.value.decode(errors="replace")
                self.stop()
                Settings.after_hang = AFTER_HANG
                return self._fail(check, candidate, args, kwargs, "timeout", (
                    f"{what} did not return within {timeout:g} s (the per-call limit, "
                    "--conformance-example-timeout), not even to SIGALRM: it hangs in native "
                    "code; its worker process was killed"))
            limit = Settings.memory_limit
            if limit and _rss(self.process.pid) - self.baseline > limit:
                self.stop()
                return self._fail(check, candidate, args, kwargs, "memory", (
                    f"the candidate's process grew by more than {limit // MIB} MiB of "
                    "resident memory (--conformance-memory-limit) while being checked; its "
                    "worker process was killed"))
        if printed:
            guard.warn_printed(self.candidate.name, printed)
        if tag == "ok":
            return value
        if tag == "failure":
            if isinstance(value, Failure) and value.kind == "timeout":
                Settings.after_hang = AFTER_HANG
            raise ConformanceFailure(value)
        raise value from RemoteError(getattr(value, "remote_traceback", ""))

    def _lost(self, check, candidate, args, kwargs, why):
        self.process.join(5)
        code = self.process.exitcode
        if why is None:
            if code is not None and code < 0:
                name = signal.Signals(-code).name
                why = f"the candidate's process died of signal {-code} ({name})"
            else:
                why = f"the candidate's process exited with status {code}"
            what = self.label.value.decode(errors="replace")
            if self.deadline.value and what:
                why += f" during {what}"
        self.stop()
        return self._fail(check, candidate, args, kwargs, "crashed", why)

    def _fail(self, check, candidate, args, kwargs, kind, text):
        from conformance.model.cases import CaseRecipe  # the model is above the core's needs

        recipe = next((a for a in args if isinstance(a, CaseRecipe)), None)
        failure = Failure(candidate.name, registry.loadable_name(candidate), recipe,
                          check.__name__, check.__module__, dict(kwargs), [Problem(text=text)],
                          kind, arguments=args)
        raise ConformanceFailure(failure)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def guard_timeout():
    from conformance.core.invoke import Limits

    limit = Limits.timeout
    if Settings.after_hang is not None and limit:
        return min(limit, Settings.after_hang)
    return limit


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_prewarmed = False


def _prewarm() -> None:
    """Once per test process, before the first fork: what every worker would otherwise do
    for itself on its first check. torch imports some modules only on first use, such as
    torch.fx.experimental.symbolic_shapes (and sympy with it: about a second) on the first
    backward pass; a worker forked afterwards inherits them. No random numbers are drawn."""
    global _prewarmed
    if _prewarmed:
        return
    _prewarmed = True
    import torch

    try:
        x = torch.zeros(2, requires_grad=True)
        torch.autograd.backward([x * 2], [torch.ones(2)])
    except Exception:  # noqa: BLE001 - only a head start; the worker imports it otherwise
        pass


# -- the worker's side ----------------------------------------------------------------------

def _serve(candidate, conn, deadline, label, threads) -> None:
    """The worker's loop: run each requested check on the candidate, send back the outcome."""
    global IN_WORKER
    IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    faulthandler.disable()  # a crash is reported by the parent, not dumped into its output
    # What the worker inherited lives as long as it does: out of the garbage collector's
    # sight, full collections stay as cheap as in a fresh process, and do not copy every
    # inherited page (copy-on-write) by touching its objects.
    gc.freeze()
    import torch

    torch.set_num_threads(threads)
    from conformance.core.invoke import Limits

    if isinstance(candidate, str):
        candidate = registry.load(candidate)
    guard.SHARED_DEADLINE = (deadline, label)
    output = _capture_native_output()
    parent = os.getppid()
    while True:
        try:
            # A worker holds its own copy of the parent's end of the pipe (and of every
            # earlier worker's), so a test process that is killed leaves no EOF behind: the
            # worker checks, while idle, that its parent is still there.
            while not conn.poll(1.0):
                if os.getppid() != parent:
                    os._exit(0)
            request = conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)
        module, name, args, kwargs, Limits.timeout = pickle.loads(request)
        check = getattr(importlib.import_module(module), name)
        function = getattr(check, "in_process", check)
        try:
            reply = ("ok", function(candidate, *args, **kwargs))
        except ConformanceFailure as exc:
            reply = ("failure", exc.failure or str(exc))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            exc.remote_traceback = "".join(traceback.format_exception(exc))
            reply = ("error", exc)
        deadline.value = 0.0
        sys.stdout.flush(), sys.stderr.flush()
        printed = output.read().strip()
        try:
            data = pickle.dumps((*reply, printed))
        except Exception:
            text = "".join(traceback.format_exception(reply[1]))
            data = pickle.dumps(("error", RuntimeError(text), printed))
        conn.send_bytes(data)


class _NativeOutput:
    """The worker's stdout and stderr, at the file-descriptor level (C prints too)."""

    def __init__(self, path: str):
        self.reader = open(path, "rb")

    def read(self) -> str:
        return self.reader.read().decode(errors="replace")


def _capture_native_output() -> _NativeOutput:
    fd, path = tempfile.mkstemp(prefix="lstm-conformance-worker-")
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    reader = _NativeOutput(path)
    os.unlink(path)  # gone when the worker is
    return reader
