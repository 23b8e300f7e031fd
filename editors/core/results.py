"""What the engines of an editor return: one type per editor, the same for its classic and diffusion engines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RemovalResult:
    """frames: the clip without the objects (and their effects);
    background: the clean plate the RGBA layers are solved against. For every engine it equals `frames` where
      nothing was removed, so layers over it give back the input;
    changed: (T, H, W) bool, pixels that differ from the input (object ∪ margin ∪ effects); all others are
      bit-identical;
    layer_mask: (T, H, W) uint8 core.trimask codes (LAYER_OBJECT / LAYER_EFFECT / LAYER_NONE) for
      core.layers.split_object_layers."""

    frames: np.ndarray
    background: np.ndarray
    changed: np.ndarray
    layer_mask: np.ndarray


@dataclass
class ReplacementResult:
    """What the replace editor's engines return.
    frames: the clip with the new object in place of the old one;
    masks: (T, H, W) bool, the new object where it is seen (alpha >= 0.5, hidden parts excluded);
    changed: (T, H, W) bool, pixels that differ from the input; all others are bit-identical."""

    frames: np.ndarray
    masks: np.ndarray
    changed: np.ndarray
