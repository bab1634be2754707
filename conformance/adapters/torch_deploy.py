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
- **torchscript**: `torch.jit.script(lstm)` after `load_state_dict(params)`.

Declared, with the reason (torch 2.13.0+cpu):
- torch-compile `backward`, xfail: with parameters that require grad, inductor's compiled
  forward raises `TypeError: expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default`
  (smallest: `LSTMSpec(1, 1)`, T=1, N=1; docs/divergences/torch_compile_backward.py).
- torch-export `packed` unsupported: exporting with a PackedSequence input fails
  (GuardOnDataDependentSymNode in the LSTM decomposition); `dropout` unsupported: an
  ExportedProgram's module cannot be put in training mode ("Calling train() is not
  supported yet"); the program is exported in eval mode.
- torchscript `backward` unsupported: the ScriptModule owns copies of the parameters, so
  gradients reach those, never the given tensors.
"""
from __future__ import annotations

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
    def __init__(self, spec, params):
        super().__init__(spec, params)
        from torch._inductor.compile_fx import compile_fx

        torch._dynamo.reset()
        self.graph_calls = 0

        def counting_inductor(gm, example_inputs):
            compiled = compile_fx(gm, example_inputs)

            def run(*args):
                self.graph_calls += 1
                return compiled(*args)
            return run

        lstm = self.lstm

        def call(params, args):
            return torch.func.functional_call(lstm, params, args)

        self.compiled = torch.compile(call, backend=counting_inductor, fullgraph=True)

    def forward(self, input, hx=None):
        before = self.graph_calls
        with torch._dynamo.config.patch(allow_rnn=True):
            result = self.compiled(self.params, self.args(input, hx))
        if self.graph_calls == before:
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


class ScriptedLSTM(_Deployed):
    def __init__(self, spec, params):
        super().__init__(spec, params)
        self.lstm.load_state_dict(params)
        self.script = torch.jit.script(self.lstm)  # a submodule: train()/eval() reach it

    def forward(self, input, hx=None):
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.params.values()):
            raise NotImplementedError("the ScriptModule owns copies of the parameters: no "
                                      "gradients for the given tensors")
        return self.script(*self.args(input, hx))


VERSIONS = versions()
BACKWARD_XFAIL = (
    "torch.compile (inductor, allow_rnn) raises TypeError: expected Tensor() for op: "
    "torch.ops.aten.mkldnn_rnn_layer.default when the parameters require grad; smallest: "
    "LSTMSpec(1, 1), T=1, N=1; torch " + torch.__version__ +
    " (docs/divergences/torch_compile_backward.py)")


@conformance.register("torch-compile", opt_in=True, versions=VERSIONS,
                      xfail={"backward": BACKWARD_XFAIL})
def build_compile(spec, params):
    return CompiledLSTM(spec, params)


@conformance.register("torch-export", opt_in=True, versions=VERSIONS,
                      unsupported={"packed", "dropout"})
def build_export(spec, params):
    return ExportedLSTM(spec, params)


@conformance.register("torchscript", opt_in=True, versions=VERSIONS,
                      unsupported={"backward"})
def build_script(spec, params):
    return ScriptedLSTM(spec, params)
