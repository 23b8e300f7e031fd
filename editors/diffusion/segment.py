"""Segment with SAM2.1 (sam2_video.py): the editor's model engine, each call inside a GPU slot on ZeroGPU
(the click preview too: CUDA only exists inside @spaces.GPU calls there)."""
from __future__ import annotations

import numpy as np

from ..core.devices import gpu
from ..core.prompts import Prompt


def _seconds(frames, prompts, **_):
    return 20 + 0.1 * len(frames)


@gpu(duration=_seconds)
def segment_video(frames: np.ndarray, prompts: list[Prompt], *, model: str, registry=None,
                  progress=None) -> dict[int, np.ndarray]:
    from .sam2_video import segment_video as sam2_segment

    return sam2_segment(frames, prompts, model=model, registry=registry, progress=progress)


@gpu(duration=20)
def preview_mask(frame: np.ndarray, prompt: Prompt, *, model: str, registry=None) -> np.ndarray:
    from .sam2_video import preview_mask as sam2_preview

    return sam2_preview(frame, prompt, model=model, registry=registry)
