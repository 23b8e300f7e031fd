"""The trimask (Generative Omnimatte's condition) and the layer codes: the only place their values live.

trimask     (T, H, W) float32: REMOVE (the object), MAY_CHANGE (where its effects - shadows, reflections -
            may live), KEEP (bit-identical). Stored as uint8 0 / 128 / 255.
layer mask  (T, H, W) uint8 an engine returns beside its result: LAYER_OBJECT = the removed object (opaque in
            its RGBA layer), LAYER_EFFECT = its effect (alpha solved against the clean plate), LAYER_NONE.
VACE mask   1 = regenerate, 0 = keep; only `to_vace` converts.

Every engine decodes a trimask through `removed` / `kept` / `may_change` (one set of thresholds, so float and
uint8-derived masks, or a resized soft one, mean the same thing everywhere).
"""
from __future__ import annotations

import numpy as np

REMOVE = np.float32(0.0)
MAY_CHANGE = np.float32(0.5)
KEEP = np.float32(1.0)

LAYER_NONE = np.uint8(0)
LAYER_EFFECT = np.uint8(128)
LAYER_OBJECT = np.uint8(255)

_REMOVE_BELOW = 0.25     # a value this low or lower is REMOVE
_KEEP_ABOVE = 0.75       # this high or higher is KEEP; between the two, MAY_CHANGE


def removed(trimask: np.ndarray) -> np.ndarray:
    """Pixels to remove (bool, same shape)."""
    return trimask <= _REMOVE_BELOW


def kept(trimask: np.ndarray) -> np.ndarray:
    """Pixels that stay exactly as they are."""
    return trimask >= _KEEP_ABOVE


def may_change(trimask: np.ndarray) -> np.ndarray:
    """The effects band: pixels that may change (a shadow is relit there) but need not."""
    return (trimask > _REMOVE_BELOW) & (trimask < _KEEP_ABOVE)


def make(remove: np.ndarray, keep: np.ndarray | None = None, band: int | None = None,
         effects: bool = True) -> np.ndarray:
    """Trimask for removal: `remove` objects -> REMOVE, `keep` objects -> KEEP, a band around the removed
    objects -> MAY_CHANGE (where their shadows/reflections live), everything else KEEP.

    band=None sizes the band to the object (masks.object_band_radius); effects=False makes it plain
    inpainting (no band).
    """
    from .masks import dilate, object_band_radius

    trimask = np.full(remove.shape, KEEP, dtype=np.float32)
    if effects:
        radius = object_band_radius(remove) if band is None else int(band)
        trimask[dilate(remove, radius)] = MAY_CHANGE
    trimask[remove] = REMOVE
    if keep is not None:
        trimask[keep & ~remove] = KEEP
    return trimask


def to_u8(trimask: np.ndarray) -> np.ndarray:
    out = np.full(trimask.shape, 255, np.uint8)
    out[may_change(trimask)] = 128
    out[removed(trimask)] = 0
    return out


def from_u8(values: np.ndarray) -> np.ndarray:
    scaled = values.astype(np.float32) / 255.0
    out = np.full(values.shape, KEEP, np.float32)
    out[may_change(scaled)] = MAY_CHANGE
    out[removed(scaled)] = REMOVE
    return out


def to_vace(trimask: np.ndarray, soft: float = 0.0) -> np.ndarray:
    """VACE mask (1 = regenerate): REMOVE -> 1, MAY_CHANGE -> `soft`, KEEP -> 0.

    VACE binarises its mask at 0.5, so there is no "may change" for it: soft > 0.5 regenerates the band,
    anything lower keeps it as conditioning."""
    vace = np.zeros(trimask.shape, np.float32)
    vace[may_change(trimask)] = soft
    vace[removed(trimask)] = 1.0
    return vace


def layer_mask(remove: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """The layer codes from what was removed and what else changed (its effect)."""
    return np.where(remove, LAYER_OBJECT, np.where(changed, LAYER_EFFECT, LAYER_NONE)).astype(np.uint8)
