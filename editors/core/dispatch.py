"""An editor's engines by name, imported only when used (the classic engine never loads torch), and the
diffusion settings every model-backed engine takes."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class DiffusionSettings:
    """Knobs of the model-backed engines (the classic engines ignore them)."""
    steps: int = 25
    guidance: float = 5.0
    seed: int = 0
    prompt: str = ""
    model: str = "vace-1.3b"
    registry: Any = None             # a ModelRegistry; None = the process-wide default


def load_engine(table: dict[str, str], name: str) -> Callable:
    """The function `table[name]` names as "package.module:function"."""
    module, function = table[name].split(":")
    return getattr(importlib.import_module(module), function)
