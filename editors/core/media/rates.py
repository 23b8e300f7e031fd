"""Frame rates as exact fractions: a given fps, and a stream's nominal rate snapped to a standard one."""

from __future__ import annotations

from fractions import Fraction

# Rates a container's average rate is snapped to, so 29.97 stays 30000/1001 and not 2997/100.
_STANDARD_RATES = [Fraction(r) for r in (8, 10, 12, 15, 24, 25, 30, 48, 50, 60, 90, 100, 120, 240)] + [
    Fraction(24000, 1001),
    Fraction(30000, 1001),
    Fraction(60000, 1001),
    Fraction(120000, 1001),
]


def as_fraction(value) -> Fraction:
    """An fps (int, float, str or Fraction) as an exact Fraction."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        # A float fps is already rounded; a small denominator gets 29.97 back as 2997/100, not 2^52ths.
        return Fraction(value).limit_denominator(1001)
    return Fraction(value)


def nominal_rate(stream) -> Fraction | None:
    """Exact nominal frame rate: the average rate snapped to a declared or standard rate."""
    avg, guessed, base = stream.average_rate, stream.guessed_rate, stream.base_rate
    plausible = [Fraction(r) for r in (avg, guessed, base) if r and 0 < r <= 1000]
    if not plausible:
        return None
    ref = plausible[0]

    def close(r: Fraction) -> bool:
        # 1%: a phone's variable-rate "30 fps" averages 29.7..30.
        return abs(r / ref - 1) < Fraction(1, 100)

    for declared in (base, guessed):
        if declared and 0 < declared <= 1000 and close(Fraction(declared)) and Fraction(declared).denominator <= 1001:
            return Fraction(declared)
    near = [r for r in _STANDARD_RATES if close(r)]
    if near:
        return min(near, key=lambda r: abs(r - ref))
    return ref.limit_denominator(1001)

