"""Misbehaving candidates for tests/test_harness.py: each must get one clear message.

All wrap nn.LSTM, so everything but the misbehaviour is correct.
"""
import torch

import conformance


def _lstm(spec, params):
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()


@conformance.register("good")
def good(spec, params):
    return _lstm(spec, params)


@conformance.register("raises")
def raises(spec, params):
    def forward(x, hx=None):
        raise RuntimeError("kernel exploded")
    return forward


@conformance.register("build-raises")
def build_raises(spec, params):
    raise KeyError("weight_ih_l0")


@conformance.register("wrong-type")
def wrong_type(spec, params):
    lstm = _lstm(spec, params)
    return lambda x, hx=None: lstm(x, hx)[0]  # output only


@conformance.register("wrong-arity")
def wrong_arity(spec, params):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        out, (h, c) = lstm(x, hx)
        return out, h, c
    return forward


@conformance.register("wrong-shape")
def wrong_shape(spec, params):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        out, (h, c) = lstm(x, hx)
        return out, (h[-1], c)
    return forward


@conformance.register("nan")
def nan(spec, params):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        out, (h, c) = lstm(x, hx)
        return out, (h, c * float("nan"))
    return forward


@conformance.register("wrong-dtype")
def wrong_dtype(spec, params):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        out, (h, c) = lstm(x, hx)
        return out, (h.to(torch.float16 if h.dtype != torch.float16 else torch.float32), c)
    return forward


@conformance.register("hangs")
def hangs(spec, params):
    def forward(x, hx=None):
        while True:
            pass
    return forward


@conformance.register("prints")
def prints(spec, params):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        print("debug: forward called")
        return lstm(x, hx)
    return forward


def plain_build(spec, params):
    """Not registered: loaded with --impl tests.harness_candidates:plain_build."""
    return _lstm(spec, params)


not_a_candidate = 42
