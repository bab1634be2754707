"""The test session's own scheduling: suite runs that test modules need start as soon as
collection is done, so that they run beside the rest of the session (on 2 cores, the test
process would otherwise wait idle for each in turn).

A module opts in with EARLY_FIXTURE (the name of its fixture that needs the run),
start_early(tmp_path_factory) and stop_early(); the fixture waits for the run. Nothing starts
under --co, or in an xdist worker (there the fixture starts its own run when first used).
The tests that wait for such a run go last (in their modules' order), so that the session
runs everything else while the runs go on instead of waiting at the first of them.
"""
_started = []  # the modules whose runs were started here


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
