"""Candidates: registration, discovery through entry points, and `--impl` resolution.

A candidate is a *build* function `build(spec, params) -> forward`, where
`forward(input, hx=None)` behaves like `torch.nn.LSTM.forward`. Registration adds a name and
the features the candidate declares it does not support (or expects to fail).
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
from dataclasses import dataclass, field
from typing import Callable, Mapping

from conformance.model.features import check_names

ENTRY_POINT_GROUP = "lstm_conformance.implementations"

BuildFn = Callable[..., Callable]


@dataclass(frozen=True)
class Candidate:
    """A registered LSTM implementation. Calling it calls its build function."""

    name: str
    build: BuildFn
    unsupported: frozenset[str] = frozenset()
    xfail: Mapping[str, str] = field(default_factory=dict)  # feature -> reason
    origin: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)  # library -> version, reported
    opt_in: bool = False  # run only when named (--impl) or by the scoreboard

    def __call__(self, spec, params):
        return self.build(spec, params)

    def __repr__(self) -> str:  # short: Hypothesis prints it in every falsifying example
        return f"Candidate({self.name!r})"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis' pretty printer
        printer.text(repr(self))

    def supports(self, feature: str) -> bool:
        return feature not in self.unsupported


@dataclass(frozen=True)
class BrokenCandidate:
    """A candidate that could not be loaded; its tests report `error` instead of running."""

    name: str
    error: str
    origin: str = ""


@dataclass(frozen=True)
class UnavailableCandidate:
    """An entry point whose module raised `LibraryUnavailable`: its library is not installed.

    Not an error: a default run leaves it out, and when named with --impl its tests skip
    with `reason` (the plugin does that), so a missing optional library never fails a run.
    """

    name: str
    reason: str
    origin: str = ""


class CandidateLoadError(Exception):
    """`--impl` named something that cannot be loaded as a candidate."""


class LibraryUnavailable(ImportError):
    """Raised by a candidate's module, at import, when the library it adapts is missing.

    Discovery turns it into an `UnavailableCandidate` (skipped with this message) instead
    of a broken one (ERROR). Say how to install it, e.g. "keras is not installed:
    pip install 'lstm-conformance[keras]'".
    """


_REGISTERED: dict[str, Candidate] = {}


def register(name: str, *, unsupported=(), xfail: Mapping[str, str] | None = None,
             versions: Mapping[str, str] | None = None, opt_in: bool = False):
    """Decorator: register `build(spec, params) -> forward` as candidate `name`.

    `unsupported`: feature names (see `conformance.FEATURES`) the candidate does not handle;
    no example needing them is generated for it. `xfail`: {feature: reason} for known deviations.
    `versions`: {library: version} of what the candidate runs on, written into the report.
    `opt_in`: a run without --impl leaves it out (slow library adapters: it is named with
    --impl, or run by `lstm-conformance scoreboard`).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register(name=...): a non-empty string is required, got {name!r}")
    unsupported = check_names(unsupported, f"register({name!r}, unsupported=...)")
    xfail = dict(xfail or {})
    check_names(xfail, f"register({name!r}, xfail=...)")
    both = sorted(unsupported & xfail.keys())
    if both:
        raise ValueError(f"register({name!r}): {both} declared both unsupported and xfail; "
                         "unsupported features are not run, so they cannot be expected to fail")
    missing = sorted(f for f, reason in xfail.items() if not str(reason).strip())
    if missing:
        raise ValueError(f"register({name!r}, xfail=...): give a reason for {missing}")

    def decorate(build: BuildFn) -> Candidate:
        if not callable(build):
            raise TypeError(f"register({name!r}) decorates a build function, got {build!r}")
        candidate = Candidate(
            name=name,
            build=build,
            unsupported=unsupported,
            xfail=xfail,
            origin=f"{getattr(build, '__module__', '?')}:{getattr(build, '__qualname__', '?')}",
            versions=dict(versions or {}),
            opt_in=bool(opt_in),
        )
        _REGISTERED[name] = candidate
        return candidate

    return decorate


def as_candidate(obj, name: str, origin: str) -> Candidate:
    """A `Candidate` as is; a plain build function claims every feature under `name`."""
    if isinstance(obj, Candidate):
        return obj
    if callable(obj):
        return Candidate(name=name, build=obj, origin=origin)
    raise CandidateLoadError(
        f"{origin} is a {type(obj).__name__}, not a build function or a registered candidate"
    )


def _entry_points():
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def discover() -> dict[str, Candidate | BrokenCandidate | UnavailableCandidate]:
    """Every candidate declared in the entry-point group, keyed by entry-point name.

    One that fails to load becomes a `BrokenCandidate` carrying the error, so the others run;
    one whose library is missing (`LibraryUnavailable`) an `UnavailableCandidate`.
    """
    found: dict[str, Candidate | BrokenCandidate | UnavailableCandidate] = {}
    for ep in sorted(_entry_points(), key=lambda ep: ep.name):
        if ep.name in found:
            continue
        try:
            found[ep.name] = as_candidate(ep.load(), ep.name, ep.value)
        except LibraryUnavailable as exc:
            found[ep.name] = UnavailableCandidate(ep.name, str(exc), ep.value)
        except Exception as exc:  # any import-time failure of a third-party plugin
            found[ep.name] = BrokenCandidate(
                ep.name,
                f"entry point {ep.name} = {ep.value!r} (group {ENTRY_POINT_GROUP}) failed to "
                f"load: {type(exc).__name__}: {exc}",
                ep.value,
            )
    return found


def load_reference(ref: str) -> Candidate | UnavailableCandidate:
    """Load 'package.module:attr' (a decorated or plain build function)."""
    module_name, _, attr_path = ref.partition(":")
    if not module_name or not attr_path:
        raise CandidateLoadError(f"--impl {ref!r}: expected 'package.module:attr'")
    try:
        obj = importlib.import_module(module_name)
    except LibraryUnavailable as exc:
        return UnavailableCandidate(ref, str(exc), ref)
    except Exception as exc:
        raise CandidateLoadError(
            f"--impl {ref!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CandidateLoadError(
                f"--impl {ref!r}: module {module_name!r} has no attribute {attr_path!r}"
            ) from None
    candidate = as_candidate(obj, ref, ref)
    # Reproduction snippets load it again the way it was loaded here.
    return dataclasses.replace(candidate, origin=ref)


def default_exclusions(discovered) -> dict[str, str]:
    """{name: why} of discovered candidates a run without --impl leaves out."""
    out = {}
    for name, c in discovered.items():
        if isinstance(c, UnavailableCandidate):
            out[name] = c.reason
        elif getattr(c, "opt_in", False):
            out[name] = "opt-in: name it with --impl, or run `lstm-conformance scoreboard`"
    return out


def resolve(refs: list[str] | None) -> list[Candidate | BrokenCandidate]:
    """The candidates named by `--impl` values (names or module:attr), or else every
    discovered one except opt-in and unavailable ones (see `default_exclusions`).

    Raises `CandidateLoadError` for a name that is neither discovered nor registered.
    """
    discovered = discover()
    if not refs:
        left_out = default_exclusions(discovered)
        return [c for name, c in discovered.items() if name not in left_out]
    chosen: list[Candidate | BrokenCandidate] = []
    for ref in refs:
        if ":" in ref:
            candidate = load_reference(ref)
        elif ref in discovered:
            candidate = discovered[ref]
        elif ref in _REGISTERED:
            candidate = _REGISTERED[ref]
        else:
            known = sorted(set(discovered) | set(_REGISTERED))
            raise CandidateLoadError(
                f"--impl {ref!r}: no such candidate. Registered: {', '.join(known) or 'none'}. "
                "Name one of these, or load one with --impl package.module:attr."
            )
        if any(c.name == candidate.name for c in chosen):
            continue
        chosen.append(candidate)
    return chosen


def load(candidate) -> Candidate:
    """A Candidate from a Candidate, a registered name, or 'module:attr'."""
    if isinstance(candidate, Candidate):
        return candidate
    [loaded] = resolve([candidate])
    if isinstance(loaded, BrokenCandidate):
        raise CandidateLoadError(loaded.error)
    return loaded


def loadable_name(candidate) -> str:
    """What `resolve` finds this candidate by: its entry-point name or module:attr."""
    return candidate.name if candidate.name in _discovered_names() else candidate.origin


_names_cache: set[str] | None = None


def _discovered_names() -> set[str]:
    """Entry-point names (cached: read once per process, every failure asks)."""
    global _names_cache
    if _names_cache is None:
        _names_cache = {ep.name for ep in _entry_points()}
    return _names_cache
