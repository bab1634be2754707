"""The fixed vocabulary of feature names a candidate can declare unsupported (or xfail).

Each name is a column of the verdict table. A case "needs" a feature when its spec or
input uses it; see `CaseRecipe.features()`.
"""
from __future__ import annotations

FEATURES: dict[str, str] = {
    "num_layers": "num_layers > 1 (stacked layers)",
    "bidirectional": "bidirectional=True",
    "proj_size": "proj_size > 0 (LSTM with projections)",
    "no_bias": "bias=False",
    "batch_first": "batch_first=True",
    "seq_first": "batch_first=False (the default)",
    "unbatched": "2-D input (L, H_in) without a batch dimension",
    "packed": "torch.nn.utils.rnn.PackedSequence input",
    "initial_state": "hx=(h0, c0) given",
    "dropout": "dropout > 0 between layers",
    "backward": "gradients through the forward pass",
    "float16": "dtype torch.float16",
    "bfloat16": "dtype torch.bfloat16",
    "float32": "dtype torch.float32",
    "float64": "dtype torch.float64",
    "cpu": "device cpu",
    "cuda": "device cuda",
    "mps": "device mps",
}

DTYPE_FEATURES = ("float16", "bfloat16", "float32", "float64")
DEVICE_FEATURES = ("cpu", "cuda", "mps")

# Column for the plain single-layer cell arithmetic, which no candidate may opt out of.
BASIC = "basic"
COLUMNS: tuple[str, ...] = (BASIC, *FEATURES)


def check_names(names, what: str) -> frozenset[str]:
    """Return `names` as a frozenset, or raise naming the unknown ones and the vocabulary."""
    names = frozenset(names)
    unknown = sorted(names - FEATURES.keys())
    if unknown:
        raise ValueError(
            f"{what}: unknown feature name(s) {unknown}; the vocabulary is {sorted(FEATURES)}"
        )
    return names
