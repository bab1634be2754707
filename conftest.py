"""Repository-level pytest configuration.

The conformance plugin itself is loaded through its `pytest11` entry point (so it works the
same from any directory once installed); this file only adds what the suite's own tests need.
"""
pytest_plugins = ["pytester"]  # tests/ drive pytest in a subprocess to test the plugin
