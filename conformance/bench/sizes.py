"""The sizes (N, T, I, H) the benchmarks run at: a ladder, sweeps, or any NxTxIxH."""
from __future__ import annotations

from dataclasses import dataclass

from conformance import CaseRecipe, LSTMSpec


@dataclass(frozen=True, order=True)
class Size:
    """Batch N, sequence length T, input size I, hidden size H."""

    N: int
    T: int
    I: int  # noqa: E741 (the usual name)
    H: int

    @property
    def id(self) -> str:
        return f"N{self.N}-T{self.T}-I{self.I}-H{self.H}"

    @classmethod
    def from_id(cls, text: str) -> "Size":
        """The inverse of `id`: 'N32-T100-I128-H128' -> Size(32, 100, 128, 128)."""
        return cls(*(int(part[1:]) for part in text.split("-")))

    def recipe(self, device: str = "cpu") -> CaseRecipe:
        """float32, seq-first, one layer, no hx, deterministic (seed 0)."""
        spec = LSTMSpec(input_size=self.I, hidden_size=self.H, device=device)
        return CaseRecipe(spec, seq_len=self.T, batch=self.N, seed=0)

    def as_dict(self) -> dict:
        """N, T, I, H, and the sets this size belongs to ("ladder", "sweep-T", ...)."""
        sets = (["ladder"] if self in LADDER else []) + [
            f"sweep-{axis}" for axis, sweep in SWEEPS.items() if self in sweep]
        return {"N": self.N, "T": self.T, "I": self.I, "H": self.H, "size_sets": sets}


# Every target at every rung.
LADDER = (Size(1, 10, 8, 8), Size(8, 50, 32, 32), Size(32, 100, 128, 128),
          Size(64, 200, 256, 256))
# Sweeps through the third rung, one dimension at a time: how cost grows with T, H and N.
BASE = LADDER[2]
SWEEPS = {
    "T": tuple(Size(BASE.N, t, BASE.I, BASE.H) for t in (25, 50, 100, 200, 400)),
    "H": tuple(Size(BASE.N, BASE.T, BASE.I, h) for h in (32, 64, 128, 256, 512)),
    "N": tuple(Size(n, BASE.T, BASE.I, BASE.H) for n in (1, 8, 32, 128)),
}
SIZE_SETS = {
    "smallest": LADDER[:1],
    "ladder": LADDER,
    "sweeps": tuple(s for sweep in SWEEPS.values() for s in sweep),
}
SIZE_SETS["all"] = LADDER + SIZE_SETS["sweeps"]


def parse_sizes(text: str) -> list[Size]:
    """'all', 'ladder', 'sweeps', 'smallest' or 'NxTxIxH', comma-separated; no duplicates."""
    sizes: list[Size] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word in SIZE_SETS:
            sizes += SIZE_SETS[word]
            continue
        try:
            size = Size(*(int(d) for d in word.lower().split("x")))
        except (TypeError, ValueError):
            size = None
        if size is None or min(size.N, size.T, size.I, size.H) < 1:
            raise ValueError(f"size {word!r}: expected one of {', '.join(SIZE_SETS)} "
                             "or NxTxIxH with positive numbers, e.g. 32x100x128x128")
        sizes.append(size)
    if not sizes:
        raise ValueError("no sizes given")
    return list(dict.fromkeys(sizes))
