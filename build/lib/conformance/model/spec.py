"""`LSTMSpec`: the constructor arguments of one `torch.nn.LSTM`, and what follows from them."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

GATES = ("i", "f", "g", "o")  # nn.LSTM stacks gate rows in this order along dim 0


@dataclass(frozen=True)
class LSTMSpec:
    """Exactly the keyword arguments of `torch.nn.LSTM` (device as a string)."""

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    device: str = "cpu"
    dtype: torch.dtype = torch.float32

    def lstm_kwargs(self) -> dict:
        """The fields as keyword arguments for `torch.nn.LSTM(**spec.lstm_kwargs())`."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "LSTMSpec":
        return dataclasses.replace(self, **changes)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Width of h and of each direction's output: proj_size when projecting."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def state_shapes(self, batch: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes of (h, c): (D*num_layers, N, H_out) and (D*num_layers, N, H) (no N if unbatched)."""
        lead = (self.num_directions * self.num_layers,) + (() if batch is None else (batch,))
        return lead + (self.output_size,), lead + (self.hidden_size,)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of `nn.LSTM(**spec.lstm_kwargs()).state_dict()`, in its order."""
        shapes: dict[str, tuple[int, ...]] = {}
        four_h = 4 * self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.output_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                shapes[f"weight_ih_l{layer}{suffix}"] = (four_h, layer_input)
                shapes[f"weight_hh_l{layer}{suffix}"] = (four_h, self.output_size)
                if self.bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (four_h,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (four_h,)
                if self.proj_size > 0:
                    shapes[f"weight_hr_l{layer}{suffix}"] = (self.proj_size, self.hidden_size)
        return shapes
