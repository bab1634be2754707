"""Candidate "onnxruntime-export": the user's path, `torch.onnx.export` of an nn.LSTM loaded
with the parameters, run by ONNX Runtime (CPU execution provider).

Exporter: `dynamo=False`, the TorchScript-based exporter, with dynamic axes for the time and
batch sizes, so that one export serves every call of a build (one per input signature: rank,
hx given or not). torch 2.13's default, `dynamo=True` (through onnxscript), gave the same
graph semantics on a probe but took 30-40 s per export on this 2-core machine against 1-5 s,
which a property-based run (an export per example) cannot afford. The exported graph holds
ONNX `LSTM` nodes written by torch's symbolic for aten::lstm.

Parameter mapping: the exporter's (load_state_dict into nn.LSTM, then torch's symbolic
reorders gate rows i,f,g,o -> ONNX i,o,f,c and keeps both biases as Wb, Rb), the same table
as onnxruntime_graph.py; this candidate checks that torch's exporter gets it right.

| nn.LSTM                      | exported graph                        |
|------------------------------|---------------------------------------|
| params (load_state_dict)     | initializers W, R, B per layer        |
| input (T, N, I) / (N, T, I) / (T, I) | graph input 0, dynamic T and N |
| hx = (h0, c0)                | graph inputs 1, 2                     |
| (output, (h_n, c_n))         | graph outputs 0, 1, 2                 |

Unsupported: packed (a PackedSequence is not an exportable graph input), proj_size (the
exporter rejects LSTM with projections), dropout (an inference graph), backward (outside
torch's autograd), float64 (ONNX Runtime: "LSTM operator does not support double yet"),
bfloat16 (numpy has none). A batch of size 0 is not run: ONNX Runtime aborts the process
(see onnxruntime_graph.py).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

import conformance
from conformance.impls import _layout

from ._common import reject_autograd, require, versions
from .onnxruntime_graph import EMPTY_BATCH

require("onnx", "onnxruntime", extra="onnxruntime")


class ExportedOnnxLSTM:
    def __init__(self, spec, params):
        if spec.dtype == torch.bfloat16:
            raise NotImplementedError("bfloat16: numpy, the way into ONNX Runtime, has none")
        if spec.dropout > 0:
            raise NotImplementedError("an exported ONNX inference graph has no training mode")
        if spec.device != "cpu":
            raise NotImplementedError("the CPU execution provider runs on cpu only")
        self.spec, self.params = spec, params
        self.lstm = nn.LSTM(**spec.lstm_kwargs()).eval()
        self.lstm.load_state_dict(params)
        self.sessions = {}

    def _session(self, args):
        import onnxruntime

        key = (args[0].dim(), len(args))
        if key not in self.sessions:
            time_axis, batch_axis = (1, 0) if self.spec.batch_first else (0, 1)
            axes = {"input": {time_axis: "T"} if args[0].dim() == 2 else
                    {time_axis: "T", batch_axis: "N"}}
            names = ["input"]
            if len(args) == 2:
                names += ["h0", "c0"]
                if args[0].dim() == 3:
                    axes.update(h0={1: "N"}, c0={1: "N"})
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(self.lstm, args if len(args) == 1 else (args[0], tuple(args[1])),
                                  buffer, dynamo=False, input_names=names,
                                  output_names=["output", "h_n", "c_n"], dynamic_axes=axes)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self.sessions[key] = onnxruntime.InferenceSession(
                buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        return self.sessions[key]

    def __call__(self, input, hx=None):
        reject_autograd("ONNX Runtime", self.params, input, hx)
        if isinstance(input, PackedSequence):
            raise NotImplementedError("a PackedSequence is not an exportable ONNX graph input")
        args = (input,) if hx is None else (input, hx)
        _layout.prepare(self.spec, self.params, input, hx)  # nn.LSTM's argument checks
        session = self._session(args)
        feeds = {"input": input.detach().numpy()}
        if hx is not None:
            feeds.update(h0=hx[0].detach().numpy(), c0=hx[1].detach().numpy())
        feeds = {i.name: feeds[i.name] for i in session.get_inputs()}
        output, h_n, c_n = (torch.from_numpy(np.asarray(a))
                            for a in session.run(None, feeds))
        return output, (h_n, c_n)


@conformance.register(
    "onnxruntime-export", opt_in=True, versions=versions("onnx", "onnxruntime"),
    unsupported={"packed", "proj_size", "dropout", "backward", "float64", "bfloat16",
                 "cuda", "mps"},
    xfail={"empty_batch": EMPTY_BATCH})
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> ExportedOnnxLSTM:
    return ExportedOnnxLSTM(spec, params)
