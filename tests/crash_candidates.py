"""Candidates that take their process down, for tests/test_isolation.py.

Each wraps nn.LSTM, so the one misbehaviour is its only defect; the native ones go through
ctypes into libc, as a compiled kernel would.
"""
import ctypes
import os
import signal

import torch
from torch.nn.utils.rnn import PackedSequence

import conformance

LIBC = ctypes.CDLL(None)


def _lstm(spec, params):
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()


def _batch(x, spec):
    if isinstance(x, PackedSequence):
        return int(x.batch_sizes[0]) if len(x.batch_sizes) else 0
    if x.dim() == 2:
        return 1
    return x.shape[0 if spec.batch_first else 1]


def _wrapping(spec, params, misbehave):
    lstm = _lstm(spec, params)

    def forward(x, hx=None):
        misbehave(x)
        return lstm(x, hx)
    return forward


@conformance.register("aborts-on-empty-batch")
def aborts_on_empty_batch(spec, params):
    def misbehave(x):
        if _batch(x, spec) == 0:
            LIBC.abort()
    return _wrapping(spec, params, misbehave)


@conformance.register("segfaults-on-bidirectional")
def segfaults_on_bidirectional(spec, params):
    if spec.bidirectional:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    return _lstm(spec, params)


@conformance.register("hangs-in-c-on-packed")
def hangs_in_c_on_packed(spec, params):
    def misbehave(x):
        if isinstance(x, PackedSequence):
            # A native call that never returns to the interpreter: with SIGALRM blocked, as
            # in C code that waits on a lock, not even the per-call alarm gets through.
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            LIBC.sleep(3600)
    return _wrapping(spec, params, misbehave)


@conformance.register("allocates-without-bound-on-projection")
def allocates_without_bound(spec, params):
    def misbehave(x):
        if spec.proj_size > 0:
            hoard = []
            while True:
                hoard.append(torch.ones(16 << 20))  # 64 MiB a step, touched
    return _wrapping(spec, params, misbehave)


@conformance.register("exits-on-unbatched")
def exits_on_unbatched(spec, params):
    def misbehave(x):
        if not isinstance(x, PackedSequence) and x.dim() == 2:
            os._exit(3)
    return _wrapping(spec, params, misbehave)


@conformance.register("ignores-proj-size")
def ignores_proj_size(spec, params):
    """Projection silently dropped: h is computed as if proj_size were 0, then cut."""
    if spec.proj_size == 0:
        return _lstm(spec, params)
    plain = spec.replace(proj_size=0)
    kept = {k: v for k, v in params.items() if not k.startswith("weight_hr")}
    for k in list(kept):
        if k.startswith("weight_hh"):  # (4H, P) -> (4H, H): pad the columns with zeros
            w = kept[k]
            kept[k] = torch.cat([w, w.new_zeros(w.shape[0], spec.hidden_size - w.shape[1])], 1)
    lstm = _lstm(plain, kept)

    def forward(x, hx=None):
        if hx is not None:
            h0, c0 = hx
            h0 = torch.cat([h0, h0.new_zeros(*h0.shape[:-1], spec.hidden_size - h0.shape[-1])], -1)
            hx = (h0, c0)
        out, (h, c) = lstm(x, hx)
        p = spec.proj_size
        if isinstance(out, PackedSequence):
            out = out._replace(data=out.data.reshape(*out.data.shape[:-1], -1, spec.hidden_size)[..., :p].reshape(*out.data.shape[:-1], -1))
        else:
            out = out.reshape(*out.shape[:-1], -1, spec.hidden_size)[..., :p].reshape(*out.shape[:-1], -1)
        return out, (h[..., :p].contiguous(), c)
    return forward


def _raises_on_empty(spec, params):
    def misbehave(x):
        if _batch(x, spec) == 0:
            raise ValueError("empty batches are not supported")
    return _wrapping(spec, params, misbehave)


raises_on_empty_batch = conformance.register("raises-on-empty-batch")(_raises_on_empty)
declares_empty_batch_unsupported = conformance.register(
    "declares-empty-batch-unsupported", unsupported={"empty_batch"})(_raises_on_empty)
