"""Classic (CPU, no weights) object replacement: the replace editor's embedded engine (GenVideo's task, seed 001,
without a diffusion model).

1. The old object (and, with effects, its cast shadow) is removed like the remove editor does
   (`classic.remove.remove_objects` on `core.trimask.make`): what it covered comes from other frames, then
   texture.
2. The new object is drawn over that clean plate where the placement puts it (`core.placement`: the default
   rule, moved by the old object's pose, hidden where the old object was hidden), premultiplied, its edge
   feathered lightly; with harmonize, its colours are first matched to the scene (`harmonize_target`).
Pixels outside `changed` (removal's changes ∪ the new object's footprint) are bit-identical to the input.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..core import masks as M
from ..core import trimask as tm
from ..core.placement import Placement
from ..core.results import ReplacementResult
from .remove import remove_objects


def replace_object(frames: np.ndarray, source: np.ndarray, placement: Placement, *, keep: np.ndarray | None = None,
                   effects: bool = True, progress=None, diffusion=None) -> ReplacementResult:
    """frames (T, H, W, 3) uint8 with the old object `source` ((T, H, W) bool) -> the new object of `placement`
    in its place. keep: other objects that stay exactly as they are; diffusion: unused (the model engine's)."""
    def removal_progress(fraction, desc=""):
        if progress:
            progress(0.95 * fraction, desc)

    trimask = tm.make(source, keep, effects=effects)
    removed = remove_objects(frames, trimask, effects=effects, progress=removal_progress)
    out = removed.frames.copy()
    masks = np.zeros(source.shape, bool)
    changed = removed.changed.copy()
    for t in range(len(frames)):
        drawn = placement.render(t)
        if drawn is None:
            continue
        box, colour, alpha = drawn
        if keep is not None:
            kept = keep[t][box.slices]
            alpha, colour = alpha * ~kept, colour * ~kept[..., None]
        region = out[t][box.slices]
        region[:] = np.clip(colour + region.astype(np.float32) * (1 - alpha[..., None]) + 0.5, 0, 255)
        masks[t][box.slices] = alpha >= 0.5
        changed[t][box.slices] |= alpha > 0
    # guarantee: outside the changed region the output is the input, bit for bit
    np.copyto(out, frames, where=~changed[..., None])
    if progress:
        progress(1.0, "done")
    return ReplacementResult(out, masks, changed)


def harmonize_target(target: np.ndarray, frame: np.ndarray, source_mask: np.ndarray,
                     strength: float = 0.5) -> np.ndarray:
    """The target's colours moved toward the scene around the old object on the reference frame (Lab):
    brightness `strength` of the way to the surroundings' mean, colour cast a third of that; alpha unchanged."""
    silhouette = target[..., 3] >= 128
    size = float(np.sqrt(max(source_mask.sum(), 1)))
    ring = M.dilate(source_mask, max(3, round(0.3 * size))) & ~M.dilate(source_mask, 2)
    if ring.sum() < 20 or silhouette.sum() < 20:
        return target
    scene = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)[ring].mean(axis=0)
    lab = cv2.cvtColor(np.ascontiguousarray(target[..., :3]), cv2.COLOR_RGB2LAB).astype(np.float32)
    mine = lab[silhouette].mean(axis=0)
    shift = (scene - mine) * np.array([strength, strength / 3, strength / 3], np.float32)
    shift[0] = np.clip(shift[0], -40, 40)
    lab = np.clip(lab + shift, 0, 255).astype(np.uint8)
    out = target.copy()
    out[..., :3] = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return out
