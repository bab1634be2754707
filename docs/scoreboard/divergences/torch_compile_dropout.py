"""torch.compile of nn.LSTM (allow_rnn) ignores the dropout between layers in training mode.

Found by the torch-compile candidate (test_dropout_p1_in_training_mode_equals_nn_lstm: with
dropout=1.0 every input of layer 2 must be 0, as eager nn.LSTM makes it;
test_dropout_statistics_of_layer_inputs: "256 of 256 elements ... look kept but not scaled
by 1/(1-p)"); torch 2.13.0+cpu. Smallest counterexample: nn.LSTM(1, 1, num_layers=2,
dropout=1.0).train(), input (T=1, N=1, 1).

    python docs/divergences/torch_compile_dropout.py     # exits 1 while the results differ
"""
import torch


def main() -> int:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(1, 1, num_layers=2, dropout=1.0).train()
    x = torch.randn(1, 1, 1)
    with torch.no_grad():
        eager = lstm(x)[0]  # dropout=1: layer 2 sees zeros, deterministic
        with torch._dynamo.config.patch(allow_rnn=True):
            compiled = torch.compile(lstm, fullgraph=True)(x)[0]
    diff = (compiled - eager).abs().max().item()
    print(f"eager {eager.flatten().tolist()}, compiled {compiled.flatten().tolist()}, "
          f"max difference {diff:.3g}")
    if diff > 1e-6:
        print("DIVERGENCE: the compiled LSTM does not apply dropout between layers")
        return 1
    print("fixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
