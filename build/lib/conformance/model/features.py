"""The feature vocabulary, and everything that maps examples onto it.

Each name is a column of the verdict table and can be declared unsupported (or xfail). An
example *needs* a feature when its spec or input uses it (`CaseRecipe.features()`). This
module is the one home of what follows from that: restricting an example to what a
candidate supports (`restrict`), turning a feature off to see whether a failure needs it
(`turned_off`), the smallest example that needs a feature (`requiring`), shape edges that
are not columns but that a failure may need (`edges`), and the words and column labels
the verdict uses.
"""
from __future__ import annotations

import torch

FEATURES: dict[str, str] = {
    "num_layers": "num_layers > 1 (stacked layers)",
    "bidirectional": "bidirectional=True",
    "proj_size": "proj_size > 0 (LSTM with projections)",
    "no_bias": "bias=False",
    "batch_first": "batch_first=True",
    "seq_first": "batch_first=False (the default)",
    "unbatched": "2-D input (L, H_in) without a batch dimension",
    "packed": "torch.nn.utils.rnn.PackedSequence input",
    "empty_batch": "a batch of N=0 sequences",
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
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16,
          "float32": torch.float32, "float64": torch.float64}

# Column for the plain single-layer cell arithmetic, which no candidate may opt out of.
BASIC = "basic"
COLUMNS: tuple[str, ...] = (BASIC, *FEATURES)
SHORT = {
    "basic": "basic", "num_layers": "layers", "bidirectional": "bidir", "proj_size": "proj",
    "no_bias": "nobias", "batch_first": "bfirst", "seq_first": "sfirst", "unbatched": "unbat",
    "packed": "packed", "empty_batch": "N=0", "initial_state": "hx", "dropout": "drop",
    "backward": "grad", "float16": "f16", "bfloat16": "bf16", "float32": "f32",
    "float64": "f64", "cpu": "cpu", "cuda": "cuda", "mps": "mps",
}
PHRASES = {
    "num_layers": "num_layers >= 2", "bidirectional": "bidirectional",
    "proj_size": "proj_size > 0", "no_bias": "bias=False", "batch_first": "batch_first",
    "seq_first": "seq_first", "unbatched": "unbatched input", "packed": "packed input",
    "empty_batch": "an empty batch (N=0)", "initial_state": "an initial state (hx)",
    "dropout": "dropout > 0", "backward": "gradients", "cpu": "device cpu",
    "cuda": "device cuda", "mps": "device mps",
    "one_step": "a single time step (T=1)", "unit_hidden": "hidden_size 1",
    "unit_input": "input_size 1", "single_sequence": "a batch of one sequence",
}
# Present in nearly every example: blamed only when nothing rarer separates.
COMMON = frozenset({"seq_first", "float32", "float64", "cpu"})


def check_names(names, what: str) -> frozenset[str]:
    """Return `names` as a frozenset, or raise naming the unknown ones and the vocabulary."""
    names = frozenset(names)
    unknown = sorted(names - FEATURES.keys())
    if unknown:
        raise ValueError(
            f"{what}: unknown feature name(s) {unknown}; the vocabulary is {sorted(FEATURES)}"
        )
    return names


def phrase(features) -> str:
    words = [PHRASES.get(f, f) for f in sorted(features)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# -- shape edges: not columns (every LSTM must handle them), but named when a failure needs one

def edges(recipe) -> frozenset[str]:
    """The sizes of 1 this example sits on (T=1, H=1, H_in=1, N=1)."""
    found = set()
    if recipe.seq_len == 1 and not recipe.packed:
        found.add("one_step")
    if recipe.spec.hidden_size == 1:
        found.add("unit_hidden")
    if recipe.spec.input_size == 1:
        found.add("unit_input")
    if recipe.batch == 1 and not recipe.packed:
        found.add("single_sequence")
    return frozenset(found)


def turned_off(recipe, feature: str):
    """`recipe` without `feature` or edge (its plain counterpart), or None if it has no off
    switch."""
    spec = recipe.spec
    specs = {
        "num_layers": dict(num_layers=1, dropout=0.0), "bidirectional": dict(bidirectional=False),
        "proj_size": dict(proj_size=0), "no_bias": dict(bias=True),
        "batch_first": dict(batch_first=False), "dropout": dict(dropout=0.0),
        "unit_hidden": dict(hidden_size=2), "unit_input": dict(input_size=2),
    }
    if feature in specs:
        changes = specs[feature]
        if feature == "unit_hidden" and spec.proj_size:
            changes = dict(changes, proj_size=1)
        return recipe.replace(spec=spec.replace(**changes))
    if feature in ("float16", "bfloat16", "float64"):
        return recipe.replace(spec=spec.replace(dtype=torch.float32))
    others = {
        "unbatched": dict(batch=1), "empty_batch": dict(batch=1),
        "packed": dict(lengths=None, enforce_sorted=False),
        "initial_state": dict(hx="omitted"), "one_step": dict(seq_len=2),
        "single_sequence": dict(batch=2),
    }
    return recipe.replace(**others[feature]) if feature in others else None


# The features `turned_off` can remove (the others, e.g. backward or float32, are what a
# check is made of).
OFF_SWITCHES = frozenset({
    "num_layers", "bidirectional", "proj_size", "no_bias", "batch_first", "dropout",
    "float16", "bfloat16", "float64", "unbatched", "empty_batch", "packed", "initial_state"})


def requiring(feature: str, base):
    """`base` (a plain example the candidate supports) changed just enough to need
    `feature`."""
    spec = base.spec
    if feature in DTYPES:
        return base.replace(spec=spec.replace(dtype=DTYPES[feature]))
    if feature in DEVICE_FEATURES:
        return base.replace(spec=spec.replace(device=feature))
    changes = {
        "num_layers": lambda: base.replace(spec=spec.replace(num_layers=2)),
        "bidirectional": lambda: base.replace(spec=spec.replace(bidirectional=True)),
        "proj_size": lambda: base.replace(spec=spec.replace(proj_size=2)),
        "no_bias": lambda: base.replace(spec=spec.replace(bias=False)),
        "batch_first": lambda: base.replace(spec=spec.replace(batch_first=True),
                                            lengths=None, batch=base.batch or 2),
        "seq_first": lambda: base.replace(spec=spec.replace(batch_first=False),
                                          lengths=None, batch=base.batch or 2),
        "unbatched": lambda: base.replace(batch=None, lengths=None),
        "packed": lambda: base.replace(batch=3, lengths=(3, 1, 2), enforce_sorted=False),
        "empty_batch": lambda: base.replace(batch=0, lengths=None),
        "initial_state": lambda: base.replace(hx="random"),
        "dropout": lambda: base.replace(spec=spec.replace(dropout=0.5, num_layers=2)),
        "backward": lambda: base,
    }
    return changes[feature]()


# -- what a candidate supports and a run may use ---------------------------------------------

DTYPE_PREFERENCE = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
DEVICE_DTYPES = {"mps": (torch.float32, torch.float16, torch.bfloat16)}  # mps has no float64
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def restrict(recipe, unsupported: frozenset[str], devices: tuple[str, ...]):
    """`recipe` with each unsupported feature replaced by its plain counterpart, on a device
    of this run; None when nothing is possible (neither layout, no usable device or dtype).

    Strategies generate every feature; mapping instead of filtering keeps candidates with
    many limits from starving."""
    spec = recipe.spec
    flags = {"num_layers": dict(num_layers=1), "bidirectional": dict(bidirectional=False),
             "proj_size": dict(proj_size=0), "no_bias": dict(bias=True),
             "dropout": dict(dropout=0.0)}
    changes = {}
    for feature, change in flags.items():
        if feature in unsupported:
            changes.update(change)
    if spec.batch_first and "batch_first" in unsupported:
        changes["batch_first"] = False
    if not spec.batch_first and "seq_first" in unsupported:
        changes["batch_first"] = True
    if changes.get("batch_first", spec.batch_first) and "batch_first" in unsupported:
        return None  # neither layout is supported

    usable_devices = [d for d in devices if d not in unsupported]
    if not usable_devices:
        return None
    device = spec.device if spec.device in usable_devices else usable_devices[0]
    dtype_ok = [d for d in DEVICE_DTYPES.get(device, DTYPE_PREFERENCE)
                if DTYPE_NAMES[d] not in unsupported]
    if not dtype_ok:
        return None
    changes["device"] = device
    changes["dtype"] = spec.dtype if spec.dtype in dtype_ok else dtype_ok[0]
    new = recipe.replace(spec=spec.replace(**changes))

    if new.packed and "packed" in unsupported:
        new = new.replace(lengths=None, enforce_sorted=False)
    if new.unbatched and "unbatched" in unsupported:
        new = new.replace(batch=1)
    if new.batch == 0 and "empty_batch" in unsupported:
        new = new.replace(batch=1)
    if new.has_initial_state and "initial_state" in unsupported:
        new = new.replace(hx="omitted")
    return new


def available_devices() -> tuple[str, ...]:
    """The devices torch reports on this machine: cpu always, cuda and mps when present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return tuple(found)
