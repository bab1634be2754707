"""The test session's own scheduling: suite runs that test modules need start as soon as
collection is done, so that they run beside the rest of the session (on 2 cores, the test
process would otherwise wait idle for each in turn).

A module opts in with EARLY_FIXTURE (the name of its fixture that needs the run),
start_early(tmp_path_factory) and stop_early(); the fixture waits for the run. Nothing starts
under --co, or in an xdist worker (there the fixture starts its own run when first used).
The tests that wait for such a run go last (in their modules' order), so that the session
runs everything else while the runs go on instead of waiting at the first of them.
"""
import os

# One thread per process: the session runs several suite subprocesses beside its own tests, and
# on a machine of few cores threads of one process only take cores from the others (the suite
# runs set torch's threads to 1 themselves; these variables also hold OpenBLAS, which the numpy
# built-in uses, to one). Set where the user set nothing.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

_started = []  # the modules whose runs were started here


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)  # the session's own in-process checks (tolerance meta-tests)


def _waits_for_early_run(item) -> bool:
    fixture = getattr(getattr(item, "module", None), "EARLY_FIXTURE", None)
    return bool(fixture) and fixture in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_waits_for_early_run)  # stable: the order is kept within each part


def pytest_collection_finish(session):
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    for item in session.items:
        module = getattr(item, "module", None)
        fixture = getattr(module, "EARLY_FIXTURE", None)
        if fixture and module not in _started and fixture in getattr(item, "fixturenames", ()):
            _started.append(module)
            module.start_early(config._tmp_path_factory)


def pytest_sessionfinish(session):
    for module in _started:
        module.stop_early()  # kills what no test waited for
    _started.clear()
