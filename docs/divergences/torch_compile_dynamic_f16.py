"""torch.compile (inductor) with dynamic shapes returns NaN for a float16 nn.LSTM of hidden
size 1 without biases, when the parameters are passed in (torch.func.functional_call).

Found by the false-alarm sweep with a spec pool (`python -m tests.false_alarms --impl
torch-compile --spec-pool 30`), where every spec after the first compiles with dynamic shapes
(Dynamo's automatic-dynamic state is per code object): all 16 of its failures were
nn.LSTM(9, 1, num_layers=3, bias=False) in float16, output NaN or off by up to 130%.
Smallest counterexample: nn.LSTM(9, 1, bias=False), float16, input (6, 2, 9), no hx,
compiled with `dynamic=True`. Static shapes, float32, biases, hidden size 3, the aot_eager
backend and the module compiled directly (parameters as attributes) all agree with eager.
torch 2.13.0+cpu. The suite's own runs compile each build afresh with static shapes, so they
do not meet it.

    python docs/divergences/torch_compile_dynamic_f16.py     # exits 1 while it diverges
"""
import torch


def main() -> int:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(9, 1, bias=False).half().eval()
    x = torch.randn(6, 2, 9).half()
    params = {k: v.detach().clone() for k, v in lstm.named_parameters()}

    def call(params, x):
        return torch.func.functional_call(lstm, params, (x,))

    with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
        want = lstm(x)[0].double()
        errors = {}
        for dynamic in (False, True):
            torch._dynamo.reset()
            got = torch.compile(call, fullgraph=True, dynamic=dynamic)(params, x)[0].double()
            errors[dynamic] = (got - want).abs().max().item()
    for dynamic, error in errors.items():
        print(f"dynamic={dynamic}: max |compiled - eager| = {error:.3g}")
    # Two float16 implementations of one step differ by a few ulps of values below 1.
    if not errors[True] <= 1e-2:
        print("DIVERGENCE: the dynamic-shape graph's output is not nn.LSTM's")
        return 1
    print("fixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
