"""Dense optical flow for the classic engines: one setup (OpenCV's DIS), one way to warp by it.

A DIS object keeps state between calls and is not safe to share between threads, so each user (a tracker, a
removal's effect stage) makes its own `Flow` instead of a module-wide instance.
"""
from __future__ import annotations

import cv2
import numpy as np

PRESETS = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
           "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST}
MIN_SIDE = 16                   # DIS needs 12 px or more on a side; a crop around a tiny object can be smaller


class Flow:
    """flow = Flow("medium"); f = flow(a, b): (H, W, 2) float32, a's pixel (x, y) sits at (x, y) + f in b."""

    def __init__(self, preset: str = "medium", finest_scale: int | None = None):
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])
        if finest_scale is not None:
            self._dis.setFinestScale(finest_scale)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a, b: (H, W) uint8 grey images of the same size."""
        h, w = a.shape[:2]
        if min(h, w) < MIN_SIDE:        # DIS refuses images under 12 px: pad (edge pixels repeated), crop back
            pad = ((0, max(MIN_SIDE - h, 0)), (0, max(MIN_SIDE - w, 0)))
            return self._dis.calc(np.pad(a, pad, mode="edge"), np.pad(b, pad, mode="edge"), None)[:h, :w]
        return self._dis.calc(a, b, None)


def sample_grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(map_x, map_y) for cv2.remap: reading image b there gives b pulled back onto a's pixels."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + flow[..., 0], gy + flow[..., 1]
