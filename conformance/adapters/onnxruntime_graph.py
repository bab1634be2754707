"""Candidate "onnxruntime-graph": nn.LSTM's parameters in an ONNX graph of `LSTM` operators,
run by ONNX Runtime (CPU execution provider).

The graph is what a converter that knows both formats would write: one `LSTM` node per layer
(`direction="bidirectional"` for both directions in one node), `sequence_lens` for packed
input, `initial_h`/`initial_c` for hx, and between layers a Transpose+Reshape of Y
(T, D, N, H) to the next layer's X (T, N, D*H). One graph (and session) per build; T and N
are symbolic, so one session serves every call.

Parameter mapping, per layer k (D = num_directions, d = 0 forward, 1 `_reverse`):

| nn.LSTM                               | ONNX LSTM input             | conversion                          |
|---------------------------------------|-----------------------------|-------------------------------------|
| weight_ih_l{k}[_reverse] (4H, I)      | W[d] (4H, I)                | gate rows i,f,g,o -> i,o,f,c        |
| weight_hh_l{k}[_reverse] (4H, H)      | R[d] (4H, H)                | gate rows i,f,g,o -> i,o,f,c        |
| bias_ih_l{k}[_reverse] (4H)           | B[d][:4H]  (Wb)             | i,f,g,o -> i,o,f,c                  |
| bias_hh_l{k}[_reverse] (4H)           | B[d][4H:]  (Rb)             | i,f,g,o -> i,o,f,c (not summed: ONNX keeps both) |
| bias=False                            | B omitted                   | ONNX: zeros                         |
| h0[k*D + d], c0[k*D + d]              | initial_h[d], initial_c[d]  | (N, H) slices                       |
| PackedSequence lengths                | sequence_lens (N,) int32    | sorted order, like the padded X     |
| output (T, N, D*H)                    | Y (T, D, N, H)              | transpose(0, 2, 1, 3), reshape      |
| h_n[k*D + d], c_n[k*D + d]            | Y_h[d], Y_c[d] of layer k   | concatenated over layers            |

Divergence: a batch of size 0 aborts the process inside ONNX Runtime 1.32 (nn.LSTM returns
empty tensors). The adapter calls ONNX Runtime as it is and declares `empty_batch` xfail: the
suite runs candidates in a worker process, so the abort fails the N=0 test (as declared)
without taking the run down, and the other tests keep N=0 out of their examples.

Unsupported, because ONNX's LSTM operator has no such thing: proj_size (no projection),
dropout (an inference graph has no training mode), backward (ONNX Runtime computes outside
torch's autograd), bfloat16 (numpy, through which the tensors go to ONNX Runtime, has no
bfloat16), float64 (the session loads, but running it fails inside ONNX Runtime: "LSTM
operator does not support double yet"; that error is the rejection). The graph is built in
the spec's dtype: float32 and float16 run. Devices: cpu only (the CUDA execution provider is a
separate package).
"""
from __future__ import annotations

import numpy as np
import torch

import conformance
from conformance.impls import _layout

from ._common import reject_autograd, require, versions

require("onnx", "onnxruntime", extra="onnxruntime")

OPSET = 14
# torch dtype -> (ONNX element type, numpy dtype), the dtypes the graph is built in
ELEMENT_TYPES = {torch.float32: (1, np.float32), torch.float64: (11, np.float64),
                 torch.float16: (10, np.float16)}
ONNX_GATES = (0, 3, 1, 2)  # ONNX i, o, f, c as nn.LSTM gate blocks (i, f, g, o)


def onnx_gate_order(w: torch.Tensor) -> np.ndarray:
    """nn.LSTM gate row blocks i, f, g, o -> ONNX's i, o, f, c (c is nn.LSTM's g)."""
    blocks = w.detach().cpu().numpy().reshape(4, -1, *w.shape[1:])  # exact: same dtype
    return np.concatenate([blocks[g] for g in ONNX_GATES])


def build_model(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
    """The ONNX ModelProto: inputs X (T, N, I), initial_h, initial_c, sequence_lens."""
    from onnx import TensorProto, helper, numpy_helper

    dirs = spec.num_directions
    hidden = spec.hidden_size
    elem, np_dtype = ELEMENT_TYPES[spec.dtype]
    inits, nodes = [], []
    layer_input = "X"
    h_outs, c_outs = [], []
    for k in range(spec.num_layers):
        suffixes = ("", "_reverse")[:dirs]
        w = np.stack([onnx_gate_order(params[f"weight_ih_l{k}{s}"]) for s in suffixes])
        r = np.stack([onnx_gate_order(params[f"weight_hh_l{k}{s}"]) for s in suffixes])
        inits += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(r, f"R{k}")]
        bias_name = ""
        if spec.bias:
            b = np.stack([np.concatenate([onnx_gate_order(params[f"bias_ih_l{k}{s}"]),
                                          onnx_gate_order(params[f"bias_hh_l{k}{s}"])])
                          for s in suffixes])
            inits.append(numpy_helper.from_array(b, f"B{k}"))
            bias_name = f"B{k}"
        # initial_h/initial_c of layer k: rows k*D .. k*D+D-1 of h0/c0
        start = numpy_helper.from_array(np.array([k * dirs], np.int64), f"start{k}")
        end = numpy_helper.from_array(np.array([(k + 1) * dirs], np.int64), f"end{k}")
        inits += [start, end]
        nodes += [helper.make_node("Slice", ["initial_h", f"start{k}", f"end{k}"], [f"h0_{k}"]),
                  helper.make_node("Slice", ["initial_c", f"start{k}", f"end{k}"], [f"c0_{k}"])]
        nodes.append(helper.make_node(
            "LSTM", [layer_input, f"W{k}", f"R{k}", bias_name, "sequence_lens", f"h0_{k}",
                     f"c0_{k}"],
            [f"Y{k}", f"Yh{k}", f"Yc{k}"], name=f"lstm{k}", hidden_size=hidden,
            direction="bidirectional" if dirs == 2 else "forward"))
        # Y (T, D, N, H) -> (T, N, D*H)
        nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"Yt{k}"], perm=[0, 2, 1, 3]))
        inits.append(numpy_helper.from_array(np.array([0, 0, dirs * hidden], np.int64),
                                             f"shape{k}"))
        nodes.append(helper.make_node("Reshape", [f"Yt{k}", f"shape{k}"], [f"out{k}"]))
        layer_input = f"out{k}"
        h_outs.append(f"Yh{k}")
        c_outs.append(f"Yc{k}")
    nodes += [helper.make_node("Identity", [layer_input], ["output"]),
              helper.make_node("Concat", h_outs, ["h_n"], axis=0),
              helper.make_node("Concat", c_outs, ["c_n"], axis=0)]
    states = dirs * spec.num_layers
    graph = helper.make_graph(
        nodes, "nn_lstm",
        inputs=[helper.make_tensor_value_info("X", elem, ["T", "N", spec.input_size]),
                helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]),
                helper.make_tensor_value_info("initial_h", elem, [states, "N", hidden]),
                helper.make_tensor_value_info("initial_c", elem, [states, "N", hidden])],
        outputs=[helper.make_tensor_value_info("output", elem, ["T", "N", dirs * hidden]),
                 helper.make_tensor_value_info("h_n", elem, [states, "N", hidden]),
                 helper.make_tensor_value_info("c_n", elem, [states, "N", hidden])],
        initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


EMPTY_BATCH = (
    "ONNX Runtime's LSTM kernel aborts the whole process (std::terminate, no exception) on a "
    "batch of size 0, where nn.LSTM returns empty tensors "
    "(docs/divergences/onnxruntime_empty_batch.py)")


class OnnxLSTM:
    """forward(input, hx=None) over one ONNX Runtime session."""

    def __init__(self, spec, params):
        import onnxruntime

        if spec.proj_size > 0:
            raise NotImplementedError("ONNX's LSTM operator has no projection (proj_size)")
        if spec.dropout > 0:
            raise NotImplementedError("an ONNX inference graph has no training mode (dropout)")
        if spec.dtype not in ELEMENT_TYPES:
            raise NotImplementedError(f"{spec.dtype}: numpy, the way into ONNX Runtime, "
                                      "has no such dtype")
        if spec.device != "cpu":
            raise NotImplementedError("the CPU execution provider runs on cpu only")
        self.spec, self.params = spec, params
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            build_model(spec, params).SerializeToString(), options,
            providers=["CPUExecutionProvider"])

    def __call__(self, input, hx=None):
        reject_autograd("ONNX Runtime", self.params, input, hx)
        prep = _layout.prepare(self.spec, self.params, input, hx)
        steps, batch = prep.x.shape[:2]
        lengths = prep.lengths or (steps,) * batch
        feeds = {"X": prep.x.detach().contiguous().numpy(),
                 "sequence_lens": np.asarray(lengths, np.int32),
                 "initial_h": prep.h0.detach().contiguous().numpy(),
                 "initial_c": prep.c0.detach().contiguous().numpy()}
        output, h_n, c_n = (torch.from_numpy(a) for a in self.session.run(None, feeds))
        return prep.restore(output, h_n, c_n)


@conformance.register(
    "onnxruntime-graph", opt_in=True, versions=versions("onnx", "onnxruntime"),
    unsupported={"proj_size", "dropout", "backward", "float64", "bfloat16", "cuda", "mps"},
    xfail={"empty_batch": EMPTY_BATCH})
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> OnnxLSTM:
    return OnnxLSTM(spec, params)
