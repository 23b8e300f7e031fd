"""Engine choice: "classic" (CPU, OpenCV/numpy, no weights) or "diffusion" (Wan2.1-VACE / SAM2 on a GPU).

"auto" takes diffusion only when a GPU and the weights are both there, otherwise classic, and says so.
"""
from __future__ import annotations

from .devices import has_gpu
from .errors import UserError
from .registry import ModelRegistry, default_registry

ENGINES = ("auto", "classic", "diffusion")


def choose_engine(requested: str, models: list[str], registry: ModelRegistry | None = None) -> tuple[str, str | None]:
    """(engine to run, notice for the user or None)."""
    requested = (requested or "auto").lower()
    if requested not in ENGINES:
        raise UserError(f"Unknown engine {requested!r}: choose one of {', '.join(ENGINES)}.")
    if requested == "classic":
        return "classic", None
    registry = registry or default_registry()
    missing = [m for m in models if not registry.available(m)]
    if requested == "diffusion":
        if missing:
            registry.weights_dir(missing[0], download=True)   # raises ModelUnavailable with the fix
        if not has_gpu():
            return "diffusion", "No GPU found: the diffusion engine runs on the CPU and will be very slow."
        return "diffusion", None
    if not has_gpu():
        return "classic", "No GPU here: using the classic (CPU) engine."
    if missing:
        return "classic", f"Weights for {', '.join(missing)} are not available: using the classic (CPU) engine."
    return "diffusion", None
