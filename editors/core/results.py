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
