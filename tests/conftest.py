"""The test session's own scheduling: the catalog self-test's subprocesses start as soon as
collection is done, when any test that needs them was collected (tests/test_catalog.py)."""


def pytest_collection_finish(session):
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):  # xdist: the fixture's job
        return
    for item in session.items:
        if "catalog_run" in getattr(item, "fixturenames", ()):
            item.module.start_catalog(config._tmp_path_factory)
            return


def pytest_sessionfinish(session):
    import sys

    catalog = sys.modules.get("tests.test_catalog")
    if catalog is not None:
        catalog.stop_catalog()
