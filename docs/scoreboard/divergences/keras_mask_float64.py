"""Keras 3's LSTM on the torch backend loses float64 precision when given a mask.

Found by the keras-lstm candidate (test_all_axes_random; the diagnosis: "needs float64 and
packed input"); keras 3.15.1, torch 2.13.0+cpu. With `dtype="float64"` and no mask the layer
matches nn.LSTM in float64 to ~1e-16; with a mask (how Keras takes variable-length
sequences, nn.LSTM's PackedSequence) the results are off by ~1e-7, float32's rounding: the
masked step goes through float32 somewhere. Smallest counterexample the suite shrank to:
LSTMSpec(input_size=2, hidden_size=3, bidirectional=True, dtype=torch.float64), lengths
(2, 4, 1); one direction shows it too, as below.

    python docs/divergences/keras_mask_float64.py     # exits 1 while the error is float32-sized
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import torch  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402


def main() -> int:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, 3, dtype=torch.float64)
    x = torch.randn(4, 3, 2, dtype=torch.float64)  # (T, N, I)
    lengths = torch.tensor([2, 4, 1])
    _, (h_ref, _) = lstm(pack_padded_sequence(x, lengths, enforce_sorted=False))

    layer = keras.layers.LSTM(3, dtype="float64", return_state=True)
    layer.build((None, None, 2))
    layer.cell.kernel.assign(lstm.weight_ih_l0.detach().t())
    layer.cell.recurrent_kernel.assign(lstm.weight_hh_l0.detach().t())
    layer.cell.bias.assign((lstm.bias_ih_l0 + lstm.bias_hh_l0).detach())
    mask = torch.arange(4)[None, :] < lengths[:, None]
    results = {}
    for name, m in (("no mask, full length", None), ("mask", mask)):
        xs = x if m is None else x
        _, h, _ = layer(xs.transpose(0, 1), mask=m)
        want = lstm(x)[1][0][0] if m is None else h_ref[0]
        results[name] = (torch.as_tensor(h) - want).abs().max().item()
        print(f"{name}: dtype {torch.as_tensor(h).dtype}, max |keras - nn.LSTM| = "
              f"{results[name]:.3g}")
    if results["mask"] > 1e-12:
        print("DIVERGENCE: with a mask, float64 results carry float32-sized errors")
        return 1
    print("fixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
