"""Candidates "torch-compile", "torch-export", "torchscript": a user's nn.LSTM through torch's
own deployment paths.

Each builds `nn.LSTM(**spec.lstm_kwargs())`, the user's model, and runs it the way the path
runs it. The parameter mapping is the identity (the same nn.LSTM, the same names):

| nn.LSTM parameter | torch-compile / torch-export            | torchscript                      |
|-------------------|-----------------------------------------|----------------------------------|
| every `params[n]` | `torch.func.functional_call(m, params)`: the given tensors, so gradients reach them | `load_state_dict(params)`: copied into the ScriptModule's own Parameters |

- **torch-compile**: `torch.compile(fullgraph=True)` of `functional_call(lstm, params, ...)`,
  with inductor (the default backend). Two traps make a compiled check pass for the wrong
  reason, and both are closed here. (1) Dynamo does not trace nn.LSTM by default: it graph-
  breaks ("Attempted to wrap RNN, GRU, or LSTM") and runs it *eagerly*, so a plain
  `torch.compile(lstm)` is nn.LSTM itself. The adapter sets `torch._dynamo.config.allow_rnn`
  (experimental support, patched only around its own calls) and `fullgraph=True`, which
  raises instead of breaking the graph. (2) After `recompile_limit` recompilations Dynamo
  falls back to eager silently: the backend wraps inductor's compiled function and counts
  its calls, and a forward during which no compiled graph ran raises `RanEager`. Dynamo's
  caches are reset at every build, so one build's recompiles never count against another's.
- **torch-export**: `torch.export.export(lstm.eval(), args)`, static shapes, so a program is
  exported for each input signature (shapes, dtype, hx given or not) the forward meets, and
  run through `ExportedProgram.module()` with the given parameters.
- **torchscript**: `torch.jit.script` of a module that calls the LSTM (`UsesLSTM`), after
  `load_state_dict(params)`: a scripted nn.LSTM alone has no callable `forward` in Python
  (torch 2.13: "'RecursiveScriptModule' object has no attribute 'forward'").

Declared, with the reason (torch 2.13.0+cpu):
- torch-compile `backward`, xfail: with parameters that require grad, inductor's compiled
  forward raises `TypeError: expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default`
  (smallest: `LSTMSpec(1, 1)`, T=1, N=1; docs/divergences/torch_compile_backward.py).
- torch-compile `packed`, xfail: tracing the PackedSequence path raises "Could not guard on
  data-dependent expression"; `bfloat16`, xfail: the compiled graph calls oneDNN's
  `mkldnn_rnn_layer`, which cannot create a bfloat16 LSTM primitive on this CPU, where eager
  nn.LSTM computes (docs/divergences/torch_compile_packed_bf16.py).
- torch-compile `dropout`, a FAIL left visible: in training mode the compiled LSTM applies no
  dropout between layers (dropout=1.0 still passes layer 1's output on, unscaled;
  docs/divergences/torch_compile_dropout.py). Not declared xfail: the column's eval-mode
  tests pass, and a strict xfail on the column would XPASS.
- torch-compile `empty_batch`, a FAIL left visible: in float32 the compiled forward kills the
  process with SIGFPE on a batch of size 0 (oneDNN's `mkldnn_rnn_layer`; float64 and float16
  return empty tensors, as eager nn.LSTM does; docs/divergences/torch_compile_empty_batch.py).
  In a suite run only the candidate's worker dies. Not declared xfail: float64 and float16
  examples of the column pass, so a strict xfail would XPASS.
- Not met by the suite, which compiles each build with static shapes: with dynamic shapes
  (`reuse`, or `dynamic=True`) and the parameters passed in, inductor's graph returns NaN for
  a float16 LSTM of hidden size 1 without biases (docs/divergences/torch_compile_dynamic_f16.py).
- torch-export `packed` unsupported: exporting with a PackedSequence input fails
  (GuardOnDataDependentSymNode in the LSTM decomposition); `dropout` unsupported: an
  ExportedProgram's module cannot be put in training mode ("Calling train() is not
  supported yet"); the program is exported in eval mode.
- torchscript `packed`, xfail: the packed output comes back as
  `torch._jit_internal.PackedSequence`, a NamedTuple that is not a
  `torch.nn.utils.rnn.PackedSequence` (docs/divergences/torchscript_packed_type.py).
- torchscript `backward` unsupported: the ScriptModule owns copies of the parameters, so
  gradients reach those, never the given tensors.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

import conformance

from ._common import versions


class RanEager(RuntimeError):
    """torch.compile returned without running a compiled graph: the check would be of eager."""


def _model(spec: conformance.LSTMSpec) -> nn.LSTM:
    """The user's nn.LSTM for `spec`, eval mode (its own parameters are replaced or loaded)."""
    return nn.LSTM(**spec.lstm_kwargs()).eval()


class _Deployed(nn.Module):
    """forward(input, hx=None); train()/eval() set the user's model's mode."""

    def __init__(self, spec, params):
        super().__init__()
        self.spec, self.params = spec, params  # plain dict: the given tensors
        self.lstm = _model(spec)
        self.eval()

    @staticmethod
    def args(input, hx):
        return (input,) if hx is None else (input, hx)


class CompiledLSTM(_Deployed):
    """nn.LSTM under torch.compile. Each build compiles afresh (Dynamo's caches reset), so
    one build's recompiles never count against another's.

    `reuse = True` keeps one compiled function per spec for the process instead, as a
    user's long-lived compiled model serves many inputs: a spec then compiles once per
    shape class, and the recompile limits are lifted so that Dynamo never falls back to
    eager for having seen many specs. tests/false_alarms.py --spec-pool sets it: a sweep
    then pays a few compiles per spec instead of one per example (2-4 s each). Dynamo keeps
    its automatic-dynamic-shapes state per code object, which every spec's function shares,
    so from the second spec on the graphs are compiled with dynamic shapes, where the suite
    compiles static ones; the LSTM layers themselves are the same oneDNN calls in both."""

    reuse = False
    _compiled: dict = {}  # spec -> (compiled function, [graph calls], module), when reuse

    def __init__(self, spec, params):
        super().__init__(spec, params)
        if self.reuse and spec in self._compiled:
            self.compiled, self.graph_calls, self.lstm = self._compiled[spec]
            self.eval()
            return
        if not self.reuse:
            torch._dynamo.reset()
        from torch._inductor.compile_fx import compile_fx

        graph_calls = self.graph_calls = [0]

        def counting_inductor(gm, example_inputs):
            compiled = compile_fx(gm, example_inputs)

            def run(*args):
                graph_calls[0] += 1
                return compiled(*args)
            return run

        lstm = self.lstm

        def call(params, args):
            return torch.func.functional_call(lstm, params, args)

        self.compiled = torch.compile(call, backend=counting_inductor, fullgraph=True)
        if self.reuse:
            self._compiled[spec] = (self.compiled, graph_calls, lstm)

    def forward(self, input, hx=None):
        before = self.graph_calls[0]
        limits = dict(recompile_limit=10**9, accumulated_recompile_limit=10**9) if self.reuse else {}
        with torch._dynamo.config.patch(allow_rnn=True, **limits):
            result = self.compiled(self.params, self.args(input, hx))
        if self.graph_calls[0] == before:
            raise RanEager("torch.compile ran this call eagerly (no compiled graph ran): "
                           "the result would be nn.LSTM's own")
        return result


class ExportedLSTM(_Deployed):
    def __init__(self, spec, params):
        super().__init__(spec, params)
        self.programs = {}  # input signature -> ExportedProgram.module()

    def train(self, mode: bool = True):
        if mode:
            raise NotImplementedError("an ExportedProgram's module cannot be put in training "
                                      "mode (torch.export: 'Calling train() is not supported')")
        return super().train(False)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            raise NotImplementedError("torch.export cannot export nn.LSTM with a PackedSequence "
                                      "input (GuardOnDataDependentSymNode)")
        args = self.args(input, hx)
        key = _signature(args)
        if key not in self.programs:
            self.programs[key] = torch.export.export(self.lstm, args).module()
        return torch.func.functional_call(self.programs[key], self.params, args)


def _signature(tree) -> tuple:
    """Shapes, dtypes and nesting of the arguments: what a static-shape export fixes."""
    if isinstance(tree, torch.Tensor):
        return ("T", tuple(tree.shape), tree.dtype, tree.device.type)
    if isinstance(tree, (tuple, list)):
        return (type(tree).__name__, *(_signature(t) for t in tree))
    return (repr(tree),)


class UsesLSTM(nn.Module):
    """The user's model around the LSTM, as TorchScript needs it: a scripted nn.LSTM alone
    cannot be called from Python (its forward is a pair of overloads, forward__0 for
    tensors and forward__1 for PackedSequence; the ScriptModule has no `forward`), so the
    LSTM is scripted as a submodule whose calls resolve the overload when compiled."""

    def __init__(self, lstm: nn.LSTM):
        super().__init__()
        self.lstm = lstm

    def forward(self, input: torch.Tensor, hx: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
                ) -> Tuple[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(input, hx)

    @torch.jit.export
    def packed(self, input: PackedSequence,
               hx: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
               ) -> Tuple[PackedSequence, Tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(input, hx)


class ScriptedLSTM(_Deployed):
    def __init__(self, spec, params):
        super().__init__(spec, params)
        self.lstm.load_state_dict(params)
        self.script = torch.jit.script(UsesLSTM(self.lstm))  # a submodule: train()/eval() reach it

    def forward(self, input, hx=None):
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.params.values()):
            raise NotImplementedError("the ScriptModule owns copies of the parameters: no "
                                      "gradients for the given tensors")
        if isinstance(input, PackedSequence):
            return self.script.packed(*self.args(input, hx))
        return self.script(*self.args(input, hx))


VERSIONS = versions()
SCRIPT_PACKED_XFAIL = (
    "a scripted module returns packed output as torch._jit_internal.PackedSequence, a plain "
    "NamedTuple, not torch.nn.utils.rnn.PackedSequence (isinstance fails, its methods are "
    "missing); smallest: LSTMSpec(1, 1), lengths (1,); torch " + torch.__version__ +
    " (docs/divergences/torchscript_packed_type.py)")
PACKED_XFAIL = (
    "torch.compile (allow_rnn, fullgraph) of nn.LSTM on a PackedSequence raises UserError: "
    "Could not guard on data-dependent expression (the LSTM decomposition branches on "
    "batch_sizes); smallest: LSTMSpec(1, 1), lengths (1,); torch " + torch.__version__ +
    " (docs/divergences/torch_compile_packed_bf16.py)")
BFLOAT16_XFAIL = (
    "the compiled graph calls oneDNN's mkldnn_rnn_layer, which raises 'could not create a "
    "primitive descriptor for the LSTM forward propagation primitive' in bfloat16 on CPU, "
    "where eager nn.LSTM computes; smallest: LSTMSpec(1, 1, dtype=bfloat16), T=1, N=1; "
    "torch " + torch.__version__ + " (docs/divergences/torch_compile_packed_bf16.py)")
BACKWARD_XFAIL = (
    "torch.compile (inductor, allow_rnn) raises TypeError: expected Tensor() for op: "
    "torch.ops.aten.mkldnn_rnn_layer.default when the parameters require grad; smallest: "
    "LSTMSpec(1, 1), T=1, N=1; torch " + torch.__version__ +
    " (docs/divergences/torch_compile_backward.py)")


@conformance.register("torch-compile", opt_in=True, versions=VERSIONS,
                      xfail={"backward": BACKWARD_XFAIL, "packed": PACKED_XFAIL,
                             "bfloat16": BFLOAT16_XFAIL})
def build_compile(spec, params):
    return CompiledLSTM(spec, params)


@conformance.register("torch-export", opt_in=True, versions=VERSIONS,
                      unsupported={"packed", "dropout"})
def build_export(spec, params):
    return ExportedLSTM(spec, params)


@conformance.register("torchscript", opt_in=True, versions=VERSIONS,
                      unsupported={"backward"}, xfail={"packed": SCRIPT_PACKED_XFAIL})
def build_script(spec, params):
    return ScriptedLSTM(spec, params)
