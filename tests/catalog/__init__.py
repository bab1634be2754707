"""A catalog of injected LSTM bugs, and the correct implementation they are derived from.

`base.py` is a correct, compact LSTM (the control); `bugs.py` holds one small subclass per
realistic mistake, each registered as candidate ``bug-<slug>`` and listed in `bugs.CATALOG`.
`tests/test_catalog.py` checks that the `ci` profile of the suite catches every one;
`measure.py` times each bug's first failure.
"""
