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


class _LSTM(torch.nn.Module):
    """nn.LSTM run on the given tensors themselves (functional_call), so that gradients reach
    them."""

    def __init__(self, spec, params):
        super().__init__()
        self.lstm = torch.nn.LSTM(**spec.lstm_kwargs())
        self.params = params
        self.eval()

    def forward(self, x, hx=None):
        return torch.func.functional_call(self.lstm, self.params, (x, hx))


def _lstm(spec, params):
    return _LSTM(spec, params)


def _batch(x, spec):
    if isinstance(x, PackedSequence):
        return int(x.batch_sizes[0]) if len(x.batch_sizes) else 0
    if x.dim() == 2:
        return 1
    return x.shape[0 if spec.batch_first else 1]


class _Wrapping(torch.nn.Module):
    def __init__(self, spec, params, misbehave):
        super().__init__()
        self.inner, self.misbehave = _lstm(spec, params), misbehave
        self.eval()

    def forward(self, x, hx=None):
        self.misbehave(x)
        return self.inner(x, hx)


def _wrapping(spec, params, misbehave):
    return _Wrapping(spec, params, misbehave)


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


class _ProjectionDropped(torch.nn.Module):
    """h computed as if proj_size were 0 (W_hh zero-padded to H columns), then cut to P."""

    def __init__(self, spec, params):
        super().__init__()
        self.spec = spec
        kept = {k: v for k, v in params.items() if not k.startswith("weight_hr")}
        for k in list(kept):
            if k.startswith("weight_hh"):  # (4H, P) -> (4H, H)
                w = kept[k]
                kept[k] = torch.cat([w, w.new_zeros(w.shape[0], spec.hidden_size - w.shape[1])], 1)
        self.inner = _lstm(spec.replace(proj_size=0), kept)
        self.eval()

    def _cut(self, t):
        H, P = self.spec.hidden_size, self.spec.proj_size
        return t.reshape(*t.shape[:-1], -1, H)[..., :P].reshape(*t.shape[:-1], -1)

    def forward(self, x, hx=None):
        H = self.spec.hidden_size
        if hx is not None:
            h0, c0 = hx
            hx = (torch.cat([h0, h0.new_zeros(*h0.shape[:-1], H - h0.shape[-1])], -1), c0)
        out, (h, c) = self.inner(x, hx)
        if isinstance(out, PackedSequence):
            out = out._replace(data=self._cut(out.data))
        else:
            out = self._cut(out)
        return out, (h[..., : self.spec.proj_size].contiguous(), c)


@conformance.register("ignores-proj-size")
def ignores_proj_size(spec, params):
    return _lstm(spec, params) if spec.proj_size == 0 else _ProjectionDropped(spec, params)


def _raises_on_empty(spec, params):
    def misbehave(x):
        if _batch(x, spec) == 0:
            raise ValueError("empty batches are not supported")
    return _wrapping(spec, params, misbehave)


raises_on_empty_batch = conformance.register("raises-on-empty-batch")(_raises_on_empty)
declares_empty_batch_unsupported = conformance.register(
    "declares-empty-batch-unsupported", unsupported={"empty_batch"})(_raises_on_empty)
