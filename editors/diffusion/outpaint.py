"""Outpaint with Wan2.1-VACE on M3DDM's hybrid coarse-to-fine schedule (schedule.py): sparse keyframes over the
whole clip first, then the frames between them with finished keyframes as guides. Same contract as
editors.classic.outpaint.outpaint: the frames on the canvas, the original pixels bit-identical."""
from __future__ import annotations

import numpy as np

from ..core.devices import gpu
from ..core.dispatch import DiffusionSettings
from ..core.geometry import Canvas, place_on_canvas


def _seconds(frames, canvas, *, diffusion: DiffusionSettings = DiffusionSettings(), **_):
    from .vace import estimate_seconds

    return estimate_seconds(len(frames), canvas.height, canvas.width, diffusion.steps) * 1.3   # guides add frames


@gpu(duration=_seconds)
def outpaint(frames: np.ndarray, canvas: Canvas, *, window: int = 17,
             diffusion: DiffusionSettings = DiffusionSettings(), progress=None) -> np.ndarray:
    """Run VACE over the coarse-to-fine stages; each window holds its frames to generate plus finished guide
    frames (unmasked), in time order; only the new area of generated frames is taken."""
    from . import vace
    from .schedule import plan_coarse_to_fine

    result, new_area = place_on_canvas(frames, canvas)
    stages = plan_coarse_to_fine(len(frames), window)
    total = sum(len(stage.windows) for stage in stages)
    done = 0
    for stage in stages:
        for generate, guides in zip(stage.windows, stage.guides):
            order = sorted(set(generate) | set(guides))
            mask = new_area[order].astype(np.float32)
            mask[[i for i, t in enumerate(order) if t not in set(generate)]] = 0.0    # guides are finished

            def step_progress(fraction, desc="", done=done, name=stage.name):
                if progress:
                    progress((done + fraction) / total, f"{name}: {desc}")

            generated = vace.generate(result[order], mask, prompt=diffusion.prompt, steps=diffusion.steps,
                                      guidance=diffusion.guidance, seed=diffusion.seed + done,
                                      max_window=vace.window_length(len(order), None), model=diffusion.model,
                                      registry=diffusion.registry, progress=step_progress)
            for i, t in enumerate(order):
                if t in generate:
                    result[t][new_area[t]] = generated[i][new_area[t]]
            done += 1
    return result
