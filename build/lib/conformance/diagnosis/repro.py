"""Standalone reproduction scripts for failures: `python repro/<candidate>__<test>.py`.

A script builds the shrunk example's tensors from its `CaseRecipe`, runs the candidate and
nn.LSTM on them, prints the difference of each returned tensor and the diagnosis, then
re-runs the failing test's own check. It exits 1 while the candidate still differs, so it
doubles as the check of a fix.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path



REPRO_DIR = "repro"

TEMPLATE = '''"""Reproduces {test} for candidate {name!r}.

Run with `python {filename}` from anywhere the candidate's package can be imported.
Exit status 1 while the candidate still differs from torch.nn.LSTM.
"""
import sys

import torch

from conformance import CaseRecipe, ConformanceFailure, LSTMSpec
from conformance.core.registry import load
from conformance.core.compare import TENSOR_NAMES, tensors, unpack
from conformance.diagnosis.diagnose import diagnose
from conformance.core.oracle import reference_module

# Where the candidate's module was found when the suite ran; appended, so an installed copy
# of it wins.
sys.path.append({search_path!r})

torch.set_num_threads(1)  # small examples run fastest single-threaded (as in the suite)

CANDIDATE = {loadable!r}
RECIPE = {recipe!r}


def family_check(candidate):
    """The failing test's own check (raises ConformanceFailure), or None."""
{family_check}


def main() -> int:
    candidate = load(CANDIDATE)
    case = RECIPE.build()
    print("example:", RECIPE.describe())
    with torch.no_grad():
        expected = unpack(case.call(reference_module(case.spec, case.params)))
        case = RECIPE.build()  # fresh tensors, in case nn.LSTM or the candidate mutates them
        forward = candidate.build(case.spec, case.params)
        if callable(getattr(forward, "eval", None)):
            forward.eval()
        actual = unpack(case.call(forward))
    differs = False
    for name, got, want in zip(TENSOR_NAMES, tensors(actual), tensors(expected)):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            print(f"{{name}}: candidate returned {{getattr(got, 'shape', type(got))}}, "
                  f"nn.LSTM {{tuple(want.shape)}}")
            differs = True
            continue
        diff = (got.double() - want.double()).abs()
        worst = diff.max().item() if diff.numel() else 0.0
        print(f"{{name}}: max |candidate - nn.LSTM| = {{worst:.3g}}")
        if worst > 0:
            index = tuple(int(i) for i in (diff == diff.max()).nonzero()[0])
            print(f"    at {{index}}: candidate {{got[index].item():.7g}}, "
                  f"nn.LSTM {{want[index].item():.7g}}")
    print()
    diagnosis = diagnose(candidate, RECIPE)
    print(diagnosis.text())
    differs = differs or diagnosis.outcome in ("diverges", "structure", "raised")
    try:
        family_check(candidate)
    except ConformanceFailure as failure:
        print()
        print(failure)
        differs = True
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def script_name(candidate_name: str, test_id: str) -> str:
    """<candidate>__<test function>[__<other parameters>].py, odd characters replaced by _."""
    test, _, params = test_id.split("::")[-1].partition("[")
    rest = params.rstrip("]").replace(candidate_name, "", 1).strip("-")
    name = f"{candidate_name}__{test}" + (f"__{rest}" if rest else "")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".py"


def script(failure, test_id: str) -> str:
    """The text of the repro script for `failure` (a core.failures.Failure)."""
    # The snippet loads the candidate by the same name; the check is its last line.
    body = "\n".join("    " + line for line in failure.reproduction().splitlines())
    module = failure.loadable.partition(":")[0] if ":" in failure.loadable else \
        _entry_point_module(failure.loadable)
    return TEMPLATE.format(test=test_id, name=failure.candidate, filename=script_name(
        failure.candidate, test_id), loadable=failure.loadable, recipe=failure.recipe,
        search_path=_search_path(module), family_check=body)


def _entry_point_module(name: str) -> str:
    from conformance.core.registry import _entry_points

    for ep in _entry_points():
        if ep.name == name:
            return ep.value.partition(":")[0]
    return name


def _search_path(module: str) -> str:
    """The sys.path entry the candidate's top-level package was imported from, if any."""
    top = sys.modules.get(module.split(".")[0])
    location = getattr(top, "__file__", None)
    if not location:
        return str(Path.cwd())
    path = Path(location).resolve()
    depth = 1 if path.name != "__init__.py" else 2
    return str(path.parents[depth - 1])


def write_script(directory, failure, test_id: str) -> str:
    """Write the script under directory/repro/; return its path relative to `directory`."""
    relative = Path(REPRO_DIR) / script_name(failure.candidate, test_id)
    path = Path(directory) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script(failure, test_id))
    return relative.as_posix()
