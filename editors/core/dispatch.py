"""An editor's engines by name, imported only when used (the classic engine never loads torch), and the
diffusion settings every model-backed engine takes."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UserError, real_number, whole_number


MAX_STEPS, MAX_GUIDANCE, MAX_SEED = 200, 30.0, 2**32 - 1


@dataclass(frozen=True)
class DiffusionSettings:
    """Knobs of the model-backed engines (the classic engines ignore them)."""
    steps: int = 25
    guidance: float = 5.0
    seed: int = 0
    prompt: str = ""
    model: str = "vace-1.3b"
    registry: Any = None             # a ModelRegistry; None = the process-wide default

    def __post_init__(self):
        # every caller (CLI, API, Python) gets the same refusal of NaN, infinities and absurd values
        object.__setattr__(self, "steps", whole_number("steps", self.steps, 1, MAX_STEPS))
        object.__setattr__(self, "guidance", real_number("guidance", self.guidance, 0.0, MAX_GUIDANCE))
        object.__setattr__(self, "seed", whole_number("seed", self.seed, 0, MAX_SEED))
        if not isinstance(self.prompt, str):
            raise UserError(f"prompt must be text, not {type(self.prompt).__name__}.")


def load_engine(table: dict[str, str], name: str) -> Callable:
    """The function `table[name]` names as "package.module:function"."""
    module, function = table[name].split(":")
    return getattr(importlib.import_module(module), function)
