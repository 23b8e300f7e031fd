"""Errors whose message is meant for the user (UI shows it as gr.Error, the CLI prints it), and the number checks
every editor's parameters go through (a NaN, an infinity or a value out of range is a UserError naming it)."""
from __future__ import annotations

import math


class UserError(ValueError):
    """Bad input or parameters: the message says what is wrong and how to fix it."""


def whole_number(name: str, value, low: int, high: int) -> int:
    """`value` as an int in [low, high] (a float must be whole: 3.0 yes, 3.5 / NaN / inf no)."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif not isinstance(value, bool):
        try:
            as_float = float(value)
            number = int(as_float) if math.isfinite(as_float) and as_float == int(as_float) else None
        except (TypeError, ValueError):
            pass
    if number is None or not low <= number <= high:
        raise UserError(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}.")
    return number


def real_number(name: str, value, low: float, high: float) -> float:
    """`value` as a finite float in [low, high]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not math.isfinite(number) or not low <= number <= high:
        raise UserError(f"{name} must be a number from {low:g} to {high:g}, not {_shown(value)}.")
    return number


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."
