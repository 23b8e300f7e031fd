"""Remove with Wan2.1-VACE: the object is regenerated, the model's pixels are taken only where they must change.

Same contract as editors.classic.remove.remove_objects: a RemovalResult whose `background` is the composited
clean plate (what the RGBA layers are solved against) and whose `changed` says which pixels differ.
"""
from __future__ import annotations

import numpy as np

from ..core import masks as M
from ..core import trimask as tm
from ..core.devices import gpu
from ..core.dispatch import DiffusionSettings
from ..core.results import RemovalResult


def _seconds(frames, trimask, *, diffusion: DiffusionSettings = DiffusionSettings(), **_):
    from .vace import estimate_seconds

    return estimate_seconds(len(frames), frames.shape[1], frames.shape[2], diffusion.steps)


@gpu(duration=_seconds)
def remove_objects(frames: np.ndarray, trimask: np.ndarray, *, keep: np.ndarray | None = None,
                   effects: bool = True, diffusion: DiffusionSettings = DiffusionSettings(),
                   progress=None) -> RemovalResult:
    """VACE regenerates the object (and, softly, the effect band); its pixels are taken only where they must
    change: the object, and band pixels where the model's result differs markedly from the input (the effect)."""
    from . import vace

    vace_mask = tm.to_vace(trimask, soft=0.5 if effects else 0.0)
    generated = vace.generate(frames, vace_mask, prompt=diffusion.prompt, steps=diffusion.steps,
                              guidance=diffusion.guidance, seed=diffusion.seed, model=diffusion.model,
                              registry=diffusion.registry, progress=progress)
    obj = tm.removed(trimask)
    alpha = M.feather(M.dilate(obj, 2), 3)
    if effects:
        band = tm.may_change(trimask)
        difference = np.abs(generated.astype(np.int16) - frames.astype(np.int16)).max(axis=3)
        effect = band & (difference > 24)
        alpha = np.maximum(alpha, M.feather(effect, 2) * (band | obj))
    if keep is not None:
        alpha[keep & ~obj] = 0          # kept objects stay exactly as they are
    result = vace.composite(frames, generated, alpha)
    changed = alpha > 0
    return RemovalResult(result, result.copy(), changed, tm.layer_mask(obj, changed))
