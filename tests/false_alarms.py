"""False-alarm sweep: correct candidates against the value checks on many random examples.

    python -m tests.false_alarms --impl onnxruntime-graph --impl keras-lstm --seconds 600

For each candidate, draws random recipes from the suite's own strategy (every axis, as
`test_all_axes_random` draws them; float16 and bfloat16 as often as float32 and float64),
restricted as a suite run restricts them (declared unsupported and xfail features left out),
and runs the forward check and, where the candidate has a backward, the gradient check, in
turn, until `--examples` per candidate or `--seconds` per candidate. Every example that fails
is a false alarm of the tolerance (or a real divergence of the library: look at it), printed
with its recipe. Writes a Markdown table (examples per dtype, failures, the closest call,
wall time) to --out. The closest call is the largest fraction of its allowance that a passing
check used on any element (1 would fail): how much room the tolerance leaves a correct
library, which is what a tighter MULTIPLE (conformance/core/tolerance.py) would spend; the
root-mean-square closest call is the same for the whole-tensor test (RMS_MULTIPLE).

This complements the nightly profile, whose 1000 examples per property test cost hours on the
adapters that compile or export per example (torch.export, torch.compile): here only the two
checks whose allowances are gauged run, so each example costs one candidate build and call.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import random
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.checks.forward import check_forward
from conformance.checks.gradients import check_gradients
from conformance.core import compare, registry
from conformance.core.failures import ConformanceFailure
from conformance.core.invoke import Limits
from conformance.model import pins, strategies
from conformance.model.cases import DTYPE_NAMES, CaseRecipe
from conformance.model.features import DTYPES, restrict

# Real divergences of a library that need more than one feature (so not declarable as xfail),
# documented in the adapter and in docs/divergences/: counted apart, not as false alarms.
KNOWN_DIVERGENCES = {
    "keras-lstm": ("float64 with a mask computes at float32 precision "
                   "(docs/divergences/keras_mask_float64.py)",
                   lambda recipe: {"float64", "packed"} <= recipe.features()),
    "torch-compile": ("with --spec-pool (dynamic shapes), float16 with hidden size 1 and no "
                      "biases returns NaN or values off by up to 130% "
                      "(docs/divergences/torch_compile_dynamic_f16.py)",
                      lambda recipe: _compiled_dynamic() and recipe.spec.dtype == torch.float16
                      and recipe.spec.hidden_size == 1 and not recipe.spec.bias),
}


def _compiled_dynamic() -> bool:
    """Whether torch-compile keeps its compiled functions (--spec-pool), so that every spec
    after the first compiles with dynamic shapes."""
    from conformance.adapters.torch_deploy import CompiledLSTM
    return CompiledLSTM.reuse


# Real divergences that kill the process: the sweep runs checks in process (to watch their
# comparisons), so these recipes are skipped, counted apart and not in the examples.
KNOWN_CRASHES = {
    "torch-compile": ("float32 with an empty batch: SIGFPE in the compiled forward "
                      "(docs/divergences/torch_compile_empty_batch.py)",
                      lambda recipe: recipe.spec.dtype == torch.float32 and recipe.batch == 0),
}

# Set by SIGTERM or SIGINT: the sweep stops after the example in hand and still writes its
# table (a sweep stopped early, for the cores, keeps what it counted).
STOP = threading.Event()

SWEPT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


def draw_recipes(count: int, seed: int, spec_pool: list | None = None,
                 dtypes: tuple = SWEPT_DTYPES) -> list:
    """`count` recipes of the suite's all-axes strategy, dtypes uniform over `dtypes`, cpu;
    spec_pool: their specs drawn from these instead."""
    return _draw(strategies.recipes(spec=st.sampled_from(spec_pool) if spec_pool
                                    else strategies.specs(dtype=st.sampled_from(dtypes))),
                 count, seed)


# Batches per sweep seed: batch k of seed s is drawn from s * BATCHES + k, so sweeps with
# different seeds never draw the same batch. (Batches once came from s + k: a sweep with seed
# s + 1 repeated all but the first batch of one with seed s.)
BATCHES = 100_003


def batch_seed(seed: int, k: int) -> int:
    """The Hypothesis seed of batch k of a sweep seeded `seed`."""
    if not 0 <= k < BATCHES:
        raise ValueError(f"batch {k}: a sweep draws at most {BATCHES} batches")
    return seed * BATCHES + k


def draw_specs(count: int, seed: int, dtypes: tuple = SWEPT_DTYPES) -> list:
    """`count` distinct specs of the suite's strategy, dtypes uniform over `dtypes`: a
    --spec-pool."""
    return list(dict.fromkeys(_draw(strategies.specs(dtype=st.sampled_from(dtypes)), count,
                                    seed)))


def draw_shapes(count: int, seed: int, dtypes: tuple = SWEPT_DTYPES) -> list:
    """At most `count` distinct structures (`structure`) of the suite's recipes, none with an
    empty batch (which compares no values): a --shape-pool."""
    drawn = draw_recipes(count, seed, dtypes=dtypes)
    return list(dict.fromkeys(structure(r) for r in drawn if r.batch != 0))


def structure(recipe: CaseRecipe) -> CaseRecipe:
    """`recipe` with its values (weight and input seed, gate scales, input scale) set to the
    defaults: what a compiled graph is specialized to."""
    return recipe.replace(seed=0, gate_scales=(1.0,) * 4, input_scale=1.0)


def with_shape(recipe: CaseRecipe, shape: CaseRecipe, seed: int) -> CaseRecipe:
    """An example of `shape`'s structure with `recipe`'s gate and input scales and weights and
    inputs from `seed` (drawn uniformly by the sweep: Hypothesis' own seeds favour small
    numbers, which on one structure would repeat the same weights)."""
    return shape.replace(seed=seed, gate_scales=recipe.gate_scales,
                         input_scale=recipe.input_scale)


def _draw(strategy, count: int, seed: int) -> list:
    drawn = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect._hypothesis_internal_use_seed = seed
    collect()
    return drawn


def pinned_recipes() -> list:
    """Every example pinned in conformance/model/pins.py (those that once raised false alarms
    or stand for a hard case), in the order they are defined."""
    return [v for v in vars(pins).values() if isinstance(v, CaseRecipe)]


def avoided_features(candidate) -> frozenset:
    """What a suite run keeps out of this candidate's examples: unsupported and xfail."""
    return frozenset(candidate.unsupported | set(getattr(candidate, "xfail", {})))


def restricted(recipe, avoided: frozenset):
    """`recipe` on cpu without the avoided features (None when nothing is left)."""
    return restrict(recipe.replace(spec=recipe.spec.replace(device="cpu")), avoided, ("cpu",))


def warm_up(candidate, seed: int) -> None:
    """One untimed check first: a library's first call imports and compiles (Keras imports
    matplotlib), and a time limit that fires inside an import leaves the module half made for
    every later call."""
    limit, Limits.timeout = Limits.timeout, None
    try:
        for recipe in draw_recipes(5, seed):
            recipe = restricted(recipe, avoided_features(candidate))
            if recipe is not None and recipe.batch != 0:
                try:
                    check_forward(candidate, recipe)
                except Exception:
                    pass  # the sweep will report it
                return
    finally:
        Limits.timeout = limit


class ClosestCall:
    """Watches every comparison of a check for the largest fraction of its allowance used:
    element-wise (compare.deviation), |got - want| / allowed, in `used`; whole-tensor
    (compare.rms_deviation), the root-mean-square error over the allowed, in `used_rms`.
    Both after the check, reset by `start`."""

    def __init__(self):
        self.used = self.used_rms = 0.0
        self._deviation = compare.deviation
        self._rms_deviation = compare.rms_deviation

    def start(self) -> None:
        self.used = self.used_rms = 0.0

    def __enter__(self):
        def watched(name, got, want, allowed, *args, **kwargs):
            got64 = got.detach().to("cpu", torch.float64)
            want64 = want.detach().to("cpu", torch.float64)
            allowed64 = torch.as_tensor(allowed, dtype=torch.float64).expand_as(want64)
            ratio = (got64 - want64).abs() / allowed64
            ratio = ratio[torch.isfinite(ratio)]
            if ratio.numel():
                self.used = max(self.used, ratio.max().item())
            return self._deviation(name, got, want, allowed, *args, **kwargs)

        def watched_rms(name, got, want, allowed, rms_allowed, *args, **kwargs):
            error = got.detach().to("cpu", torch.float64) - want.detach().to("cpu", torch.float64)
            if error.numel():
                self.used_rms = max(self.used_rms, error.square().mean().sqrt().item()
                                    / rms_allowed)
            return self._rms_deviation(name, got, want, allowed, rms_allowed, *args, **kwargs)

        compare.deviation, compare.rms_deviation = watched, watched_rms
        return self

    def __exit__(self, *exc):
        compare.deviation, compare.rms_deviation = self._deviation, self._rms_deviation


def sweep(name: str, examples: int, seconds: float, seed: int, log,
          only: str | None = None, pinned: bool = False, spec_pool: int = 0,
          dtypes: tuple = SWEPT_DTYPES, shape_pool: int = 0) -> dict:
    """Sweep one candidate; only: "forward" or "gradients" to run that check alone; pinned:
    every pinned example instead of random ones, each with every check; spec_pool: random
    examples over this many specs drawn once (for candidates that compile per spec); dtypes:
    the random examples' (a change to one dtype's tolerance needs only its own sweep);
    shape_pool: random values on this many recipe structures drawn once (for candidates that
    compile per input shape and cache what they compiled)."""
    candidate = registry.load(name)
    avoided = avoided_features(candidate)
    checks = [("forward", check_forward)]
    if "backward" not in avoided:
        checks.append(("gradients", check_gradients))
    checks = [c for c in checks if only in (None, c[0])]
    if not checks:
        log(f"{name}: skipped, no {only} check (its declared features avoid it)")
        return {"name": name, "counts": collections.Counter(), "failures": [], "closest": {},
                "seconds": 0.0, "examples": 0, "skipped": 0}
    warm_up(candidate, seed)
    counts: collections.Counter = collections.Counter()
    failures = []
    closest: dict = {}  # (check, dtype) -> (fraction of the allowance used, recipe)
    watch = ClosestCall()
    started = time.monotonic()
    done = 0
    skipped = 0  # recipes of KNOWN_CRASHES (and pins with nothing left to run), not run
    seen: set[str] = set()  # Hypothesis starts every run with the same simple examples
    crashes = KNOWN_CRASHES.get(name, (None, lambda recipe: False))[1]

    def batches():
        if pinned:  # each pin once per check
            yield [(recipe, k) for recipe in pinned_recipes() for k in range(len(checks))]
            return
        pool = draw_specs(spec_pool, seed, dtypes) if spec_pool else None
        shapes = []  # the pool's structures as the sweep runs them: restricted, no crashes
        if shape_pool:
            runnable = (restricted(r, avoided) for r in draw_shapes(shape_pool, seed, dtypes))
            shapes = [r for r in runnable if r is not None and not crashes(r)]
            if not shapes:
                raise ValueError(f"--shape-pool {shape_pool}: no structure left to run")
        for k in itertools.count():
            drawn = draw_recipes(200, batch_seed(seed, k), pool, dtypes)
            if shapes:
                pick = random.Random(batch_seed(seed, k))
                drawn = [with_shape(r, pick.choice(shapes), pick.getrandbits(32)) for r in drawn]
            yield [(recipe, None) for recipe in drawn]

    def spent() -> bool:  # the limits (a pinned sweep runs every pin), or asked to stop
        return STOP.is_set() or not pinned and (done >= examples
                                                or time.monotonic() - started >= seconds)

    for batch in batches():
        if spent():
            break
        for original, which in batch:
            if spent():
                break
            recipe = restricted(original, avoided)
            if pinned and recipe != original.replace(spec=original.spec.replace(device="cpu")):
                log(f"{name}: pin {'left out' if recipe is None else 'run without'} "
                    f"{sorted(original.features() - (recipe.features() if recipe else set()))}"
                    f" (declared unsupported or xfail): {original!r}")
            if recipe is None or (which is None and repr(recipe) in seen):
                skipped += which is not None
                continue
            seen.add(repr(recipe))
            if crashes(recipe):
                skipped += 1
                continue
            label, check = checks[done % len(checks) if which is None else which]
            if label == "gradients" and recipe.batch == 0:
                if len(checks) == 1 or which is not None:
                    continue  # the gradient check needs a batch (not counted as skipped)
                label, check = checks[0]
            try:
                watch.start()
                with watch:
                    check(candidate, recipe)
                outcome = "ok"
                key = (label, DTYPE_NAMES[recipe.spec.dtype])
                if watch.used > closest.get(key, (0.0, None))[0]:
                    closest[key] = (watch.used, recipe)
                if watch.used_rms > closest.get(key + ("rms",), (0.0, None))[0]:
                    closest[key + ("rms",)] = (watch.used_rms, recipe)
            except ConformanceFailure as exc:
                known = KNOWN_DIVERGENCES.get(name)
                if known and known[1](recipe):
                    counts[(label, DTYPE_NAMES[recipe.spec.dtype], "known")] += 1
                    done += 1
                    continue
                outcome = "FAIL"
                failures.append((label, recipe, str(exc).splitlines()[:3]))
                log(f"{name}: FALSE ALARM? {label} {recipe!r}\n  " +
                    "\n  ".join(str(exc).splitlines()[:4]))
            except Exception as exc:  # the harness itself: report, go on
                outcome = "ERROR"
                failures.append((label, recipe, traceback.format_exception_only(exc)))
                log(f"{name}: ERROR {label} {recipe!r}: {exc!r}")
            counts[(label, DTYPE_NAMES[recipe.spec.dtype], outcome)] += 1
            done += 1
    return {"name": name, "counts": counts, "failures": failures, "closest": closest,
            "seconds": time.monotonic() - started, "examples": done, "skipped": skipped}


def table(results: list[dict]) -> str:
    dtypes = ["float64", "float32", "float16", "bfloat16"]
    lines = ["| candidate | check | " + " | ".join(dtypes) +
             " | failures | closest call (of allowed, per dtype) "
             "| closest call, root mean square | wall |",
             "|---|---|" + "---|" * len(dtypes) + "---|---|---|---|"]
    for result in results:
        counts = result["counts"]
        for label in ("forward", "gradients"):
            per = [sum(n for (lab, dt, _), n in counts.items() if lab == label and dt == d)
                   for d in dtypes]
            if not any(per):
                continue
            bad = sum(n for (lab, _, out), n in counts.items()
                      if lab == label and out in ("FAIL", "ERROR"))
            known = sum(n for (lab, _, out), n in counts.items() if lab == label and out == "known")
            note = f" (+{known} known divergence)" if known else ""
            closest, closest_rms = (" / ".join(
                f"{result['closest'][key][0]:.2f}" if key in result["closest"] else "-"
                for key in ((label, d) + rms for d in dtypes)) for rms in ((), ("rms",)))
            lines.append(f"| {result['name']} | {label} | " + " | ".join(map(str, per)) +
                         f" | {bad}{note} | {closest} | {closest_rms} "
                         f"| {result['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", action="append", required=True)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600.0, help="per candidate")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", default=None, help="Markdown file for the table")
    parser.add_argument("--check", choices=("forward", "gradients"), default=None,
                        help="run this check alone (default: both, in turn)")
    parser.add_argument("--spec-pool", type=int, default=0, metavar="K",
                        help="draw K specs once and every example's spec from them, and let "
                             "torch-compile keep one compiled function per spec "
                             "(CompiledLSTM.reuse): a compile per spec, not per example")
    parser.add_argument("--shape-pool", type=int, default=0, metavar="K",
                        help="draw K examples once and give every example the structure of "
                             "one of them (spec, shapes, initial-state kind) with its own "
                             "weights and inputs: torch-compile then compiles K static graphs "
                             "and loads the rest from inductor's cache")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="per example (default 120): torch.compile's first call on a "
                             "spec compiles, which several sweeps at once on a small "
                             "machine can stretch past it")
    parser.add_argument("--pins", action="store_true",
                        help="every pinned example (conformance/model/pins.py) with every "
                             "check, instead of random ones")
    parser.add_argument("--dtype", action="append", choices=list(DTYPES), default=None,
                        help="draw the random examples in this dtype (repeat for several; "
                             "default: all four, uniformly; --pins runs every pin in its own)")
    args = parser.parse_args(argv)
    if args.spec_pool and args.shape_pool:
        parser.error("--spec-pool and --shape-pool: one or the other")
    dtypes = tuple(DTYPES[name] for name in args.dtype) if args.dtype else SWEPT_DTYPES
    torch.set_num_threads(1)
    Limits.timeout = args.timeout
    if args.spec_pool:
        from conformance.adapters.torch_deploy import CompiledLSTM
        CompiledLSTM.reuse = True
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: STOP.set())
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    results = []
    for name in args.impl:
        result = sweep(name, args.examples, args.seconds, args.seed, log, args.check,
                       args.pins, args.spec_pool, dtypes, shape_pool=args.shape_pool)
        results.append(result)
        log(f"{name}: {result['examples']} examples, {len(result['failures'])} failures, "
            f"{result['seconds']:.0f} s"
            + (f", {result['skipped']} skipped "
               f"({KNOWN_CRASHES.get(name, ('pins with nothing left to run',))[0]})"
               if result["skipped"] else ""))
        for key, (used, recipe) in sorted(result["closest"].items()):
            label, dtype, *rms = key
            what = "of the root-mean-square allowed" if rms else "of allowed"
            log(f"  closest call {label} {dtype}: {used:.3f} {what} on {recipe!r}")
    text = table(results)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
