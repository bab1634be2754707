"""Test cases: a small, printable *recipe* and the tensors it deterministically builds.

A `CaseRecipe` holds only plain values (sizes, flags, a seed), so a failing example prints as
one line of Python that rebuilds exactly the same tensors anywhere: that line is the heart of
every reproduction snippet. `recipe.build()` makes the `Case` (params, input, hx) on the spec's
device and dtype; `recipe.build(dtype=torch.float64, device="cpu")` makes the same values, after
rounding to the spec's dtype, in float64 for the high-precision reference.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from conformance.model.features import BASIC
from conformance.model.spec import LSTMSpec

DTYPE_NAMES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
}

HX_KINDS = ("omitted", "none", "zeros", "random")  # omitted: forward(x); none: forward(x, None)
HX_CONTAINERS = ("tuple", "list")

LSTMInput = Union[torch.Tensor, PackedSequence]


@dataclass(frozen=True)
class Case:
    """Tensors of one example: what the candidate and nn.LSTM are given."""

    spec: LSTMSpec
    params: dict[str, torch.Tensor]
    input: LSTMInput
    hx: tuple | list | None
    pass_hx: bool  # False: call forward(input) without the hx argument

    def call(self, forward):
        return forward(self.input, self.hx) if self.pass_hx else forward(self.input)


@dataclass(frozen=True)
class CaseRecipe:
    """Everything that defines one example, as plain values.

    batch: N, or None for unbatched 2-D input. lengths: per-sequence lengths (in the user's
    batch order) for PackedSequence input, or None for a padded tensor. gate_scales: weight
    scale of the i, f, g, o gate rows, so that gates differ and a gate mix-up shows.
    """

    spec: LSTMSpec
    seq_len: int = 3
    batch: int | None = 2
    lengths: tuple[int, ...] | None = None
    enforce_sorted: bool = False
    hx: str = "omitted"
    hx_container: str = "tuple"
    gate_scales: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    input_scale: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.hx not in HX_KINDS:
            raise ValueError(f"hx={self.hx!r}: expected one of {HX_KINDS}")
        if self.hx_container not in HX_CONTAINERS:
            raise ValueError(f"hx_container={self.hx_container!r}: expected one of {HX_CONTAINERS}")
        if self.lengths is not None:
            if self.batch is None or len(self.lengths) != self.batch or self.batch == 0:
                raise ValueError("packed input needs batch >= 1 and one length per sequence")
            if not all(1 <= n <= self.seq_len for n in self.lengths):
                raise ValueError(f"lengths {self.lengths} must lie in 1..seq_len={self.seq_len}")
            if self.enforce_sorted and list(self.lengths) != sorted(self.lengths, reverse=True):
                raise ValueError("enforce_sorted=True needs lengths sorted in decreasing order")

    def replace(self, **changes) -> "CaseRecipe":
        return dataclasses.replace(self, **changes)

    @property
    def packed(self) -> bool:
        return self.lengths is not None

    @property
    def unbatched(self) -> bool:
        return self.batch is None

    @property
    def has_initial_state(self) -> bool:
        return self.hx in ("zeros", "random")

    def features(self) -> frozenset[str]:
        """The feature-vocabulary names this example exercises (plus "basic")."""
        s = self.spec
        names = {BASIC, DTYPE_NAMES[s.dtype], torch.device(s.device).type}
        names.add("batch_first" if s.batch_first else "seq_first")
        flags = {
            "num_layers": s.num_layers > 1,
            "bidirectional": s.bidirectional,
            "proj_size": s.proj_size > 0,
            "no_bias": not s.bias,
            "dropout": s.dropout > 0,
            "unbatched": self.unbatched,
            "packed": self.packed,
            "initial_state": self.has_initial_state,
            "empty_batch": self.batch == 0,
        }
        names.update(name for name, on in flags.items() if on)
        return frozenset(names)

    def describe(self) -> str:
        """Input shapes in words, for failure messages."""
        s = self.spec
        if self.unbatched:
            shape = f"unbatched input (L={self.seq_len}, H_in={s.input_size})"
        elif self.packed:
            shape = (f"PackedSequence of {self.batch} sequences, lengths {list(self.lengths)}, "
                     f"enforce_sorted={self.enforce_sorted}")
        else:
            dims = "(N, L, H_in)" if s.batch_first else "(L, N, H_in)"
            sizes = ((self.batch, self.seq_len) if s.batch_first else (self.seq_len, self.batch))
            shape = f"input {dims}={sizes + (s.input_size,)}"
        if self.hx in ("omitted", "none"):
            state = "no hx" if self.hx == "omitted" else "hx=None"
        else:
            h_shape, c_shape = s.state_shapes(self.batch)
            state = f"hx {self.hx} {self.hx_container} h0{h_shape} c0{c_shape}"
        return f"{shape}, {state}"

    # -- building tensors ---------------------------------------------------------------

    def build(self, dtype: torch.dtype | None = None, device: str | None = None) -> Case:
        """The tensors, on the spec's device/dtype unless overridden: new tensors every call
        (callers and candidates may change them in place).

        Values are drawn in float64 from the seed, rounded to the spec's dtype, and only then
        converted to `dtype`: a float64 build of a float16 recipe holds the same numbers.
        """
        dtype = self.spec.dtype if dtype is None else dtype
        device = self.spec.device if device is None else device
        key = (self, dtype, device)
        try:
            hash(key)
        except TypeError:  # a field given as a list: nothing to key a kept build by
            return self._build(dtype, device)
        built = _BUILT.pop(key, None)
        if built is None:
            built = self._build(dtype, device)
            if _size(built) > _KEEP_ELEMENTS:
                return built
        _BUILT[key] = built
        while len(_BUILT) > _KEEP_BUILDS:
            _BUILT.popitem(last=False)
        return _copy(built)

    def _build(self, dtype: torch.dtype, device: str) -> Case:
        spec = self.spec
        rng = np.random.default_rng(self.seed)

        def tensor(values: np.ndarray) -> torch.Tensor:
            rounded = torch.from_numpy(values).to(spec.dtype)
            return rounded.to(dtype=dtype, device=device)

        params = {name: tensor(self._param_values(name, shape, rng))
                  for name, shape in spec.param_shapes().items()}

        n = 1 if self.batch is None else self.batch
        x = tensor(rng.standard_normal((self.seq_len, n, spec.input_size)) * self.input_scale)
        h_shape, c_shape = spec.state_shapes(n)
        h0 = tensor(rng.standard_normal(h_shape) * 0.5)
        c0 = tensor(rng.standard_normal(c_shape))
        if self.hx == "zeros":
            h0, c0 = torch.zeros_like(h0), torch.zeros_like(c0)

        if self.unbatched:
            x, h0, c0 = x[:, 0], h0[:, 0], c0[:, 0]
            lstm_input: LSTMInput = x.contiguous()
        elif self.packed:
            lstm_input = pack_padded_sequence(
                x, torch.tensor(self.lengths), enforce_sorted=self.enforce_sorted
            )
        else:
            lstm_input = x.transpose(0, 1).contiguous() if spec.batch_first else x

        hx = None
        if self.has_initial_state:
            container = tuple if self.hx_container == "tuple" else list
            hx = container((h0.contiguous(), c0.contiguous()))
        return Case(spec=spec.replace(dtype=dtype, device=device), params=params,
                    input=lstm_input, hx=hx, pass_hx=self.hx != "omitted")

    def _param_values(self, name: str, shape, rng) -> np.ndarray:
        values = rng.standard_normal(shape)
        if name.startswith("weight_hr"):
            return values / np.sqrt(shape[1])
        # i, f, g, o row blocks get their own scale so that gates differ in distribution.
        scales = np.repeat(np.asarray(self.gate_scales, dtype=np.float64), shape[0] // 4)
        if name.startswith("weight"):
            return values * scales.reshape(-1, 1) / np.sqrt(shape[1])
        return values * scales * 0.5  # biases


# The last builds, by (recipe, dtype, device): one example is built several times over (the
# candidate's run, the float64 truth, every gauge), and drawing and rounding its values cost
# more than copying them. Only small cases are kept.
_BUILT: OrderedDict = OrderedDict()
_KEEP_BUILDS = 16
_KEEP_ELEMENTS = 1 << 16


def _tensors_of(case: Case) -> list[torch.Tensor]:
    data = case.input.data if isinstance(case.input, PackedSequence) else case.input
    return [*case.params.values(), data, *(case.hx or ())]


def _size(case: Case) -> int:
    return sum(t.numel() for t in _tensors_of(case))


def _copy(case: Case) -> Case:
    """`case` with every tensor copied (a PackedSequence's batch_sizes and indices too)."""
    lstm_input = case.input
    if isinstance(lstm_input, PackedSequence):
        lstm_input = PackedSequence(*(None if t is None else t.clone() for t in lstm_input))
    else:
        lstm_input = lstm_input.clone()
    hx = None if case.hx is None else type(case.hx)(t.clone() for t in case.hx)
    return Case(spec=case.spec, params={k: v.clone() for k, v in case.params.items()},
                input=lstm_input, hx=hx, pass_hx=case.pass_hx)
