"""Wan2.1-VACE as a video inpainter/outpainter for any size and length.

- sizes: scaled to at most `max_area` pixels, padded to multiples of 16 (reflect), cropped and scaled back;
- length: windows of 4k+1 frames; each window after the first gets the last `overlap` frames of the previous
  window as finished, unmasked guide frames (continuity), and the overlap is cross-faded;
- masks: VACE convention, 1 = regenerate, 0 = keep (see masks.trimask_to_vace);
- progress per window and step.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..core.errors import UserError
from ..core.registry import ModelRegistry, default_registry

DEFAULT_MODEL = "vace-1.3b"
DEFAULT_NEGATIVE = "blurry, low quality, artifacts, distorted, watermark, text, static, overexposed"


def window_length(num_frames: int, max_window: int | None = 81) -> int:
    """Smallest 4k+1 that holds `num_frames`, capped at `max_window` (itself 4k+1; None = no cap)."""
    length = (max(num_frames, 1) - 1 + 3) // 4 * 4 + 1
    return length if max_window is None else min(max(5, (max_window - 1) // 4 * 4 + 1), length)


def plan_windows(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering every frame; consecutive ranges share `overlap` frames."""
    if num_frames <= window:
        return [(0, num_frames)]
    overlap = min(max(overlap, 0), window - 1)
    step = window - overlap
    starts = list(range(0, num_frames - window, step)) + [num_frames - window]
    return [(s, s + window) for s in starts]


def model_size(height: int, width: int, max_area: int) -> tuple[int, int]:
    """Working size: aspect kept, area ≤ max_area, multiples of 16."""
    scale = min(1.0, math.sqrt(max_area / (height * width)))
    return max(16, round(height * scale / 16) * 16), max(16, round(width * scale / 16) * 16)


def estimate_seconds(num_frames: int, height: int, width: int, steps: int, max_area: int = 832 * 480,
                     seconds_per_step_at_full: float = 1.6) -> float:
    """Rough GPU time for ZeroGPU's duration: per step cost grows with tokens (frames × area)."""
    h, w = model_size(height, width, max_area)
    tokens = (window_length(num_frames) + 3) / 4 * (h / 16) * (w / 16)
    full = 21 * (480 / 16) * (832 / 16)
    windows = len(plan_windows(num_frames, 81, 16))
    return 30 + windows * steps * seconds_per_step_at_full * max(tokens / full, 0.05)


def _to_pil(frames: np.ndarray):
    from PIL import Image

    return [Image.fromarray(f) for f in frames]


def _resize(frames: np.ndarray, height: int, width: int, interpolation=cv2.INTER_AREA) -> np.ndarray:
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


def generate(frames: np.ndarray, mask: np.ndarray, *, max_area: int = 832 * 480, progress=None,
             **options) -> np.ndarray:
    """frames (T,H,W,3) uint8 and mask (T,H,W) float in [0,1] (1 = regenerate) -> (T,H,W,3) uint8.

    The returned frames are the model's, everywhere; callers composite (keep original pixels where mask is 0).
    Out of GPU memory: retried at half the area, twice, then a message the user can act on.
    options: prompt, negative_prompt, reference_images, steps, guidance, seed, max_window, overlap, model, registry,
    steer (an object whose `window(pipe, content, mask, window, **call)` sees each window's un-greyed frames and
    mask at the model's size before the pipeline runs, and returns (mask, pipeline call overrides): how the
    replace engine puts its own mask, latents, scheduler and step callback into the same windows).
    """
    import torch

    registry = options.pop("registry", None) or default_registry()
    # use(): one call at a time on the shared pipeline (concurrent calls corrupt each other's state), retries
    # included, and it is not evicted meanwhile; _generate's get() then returns this very pipeline.
    with registry.use(options.get("model", DEFAULT_MODEL)):
        area = max_area
        for attempt in range(3):
            try:
                return _generate(frames, mask, max_area=area, progress=progress, registry=registry, **options)
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                area //= 2
                if progress and attempt < 2:
                    progress(0.0, f"out of GPU memory: retrying at {area // 1000}k pixels a frame")
    raise UserError("The GPU ran out of memory even at a reduced size: try a shorter clip, fewer frames per "
                    "window, or the classic engine.")


def _generate(frames: np.ndarray, mask: np.ndarray, *, prompt: str = "", negative_prompt: str = DEFAULT_NEGATIVE,
              reference_images: list[np.ndarray] | None = None, steps: int = 25, guidance: float = 5.0,
              seed: int = 0, max_window: int = 81, overlap: int = 8, max_area: int = 832 * 480,
              model: str = DEFAULT_MODEL, registry: ModelRegistry | None = None, progress=None,
              steer=None) -> np.ndarray:
    import torch

    registry = registry or default_registry()
    pipe = registry.get(model)
    count, height, width = mask.shape
    work_h, work_w = model_size(height, width, max_area)
    # Masked pixels go in grey: VACE was trained with the inactive region neutral.
    video = frames.copy()
    video[mask >= 0.5] = 127
    video = _resize(video, work_h, work_w)
    content = _resize(frames, work_h, work_w) if steer is not None else None   # what the steer sees un-greyed
    work_mask = np.stack([cv2.resize(m.astype(np.float32), (work_w, work_h), interpolation=cv2.INTER_LINEAR)
                          for m in mask])
    window = window_length(count, max_window)
    spans = plan_windows(count, window, overlap)
    refs = [_to_pil(r[None])[0] for r in reference_images] if reference_images else None
    out = np.zeros((count, work_h, work_w, 3), np.float32)
    weight = np.zeros(count, np.float32)
    done_steps = [0]
    total_steps = steps * len(spans)

    def on_step(pipeline, step, timestep, kwargs):
        done_steps[0] += 1
        if progress:
            progress(done_steps[0] / total_steps, f"diffusion step {done_steps[0]}/{total_steps}")
        return kwargs

    def padded(values, length):             # short clips: repeat the last frame up to 4k+1
        return np.concatenate([values, np.repeat(values[-1:], length - len(values), 0)]) if length > len(values) \
            else values

    for index, (start, stop) in enumerate(spans):
        clip = video[start:stop].copy()
        clip_mask = work_mask[start:stop].copy()
        shared = int(weight[start:stop].astype(bool).sum())   # frames an earlier window already generated
        if shared:   # they become fixed guides, so this window continues them
            clip[:shared] = np.clip(out[start:start + shared] / weight[start:start + shared, None, None, None],
                                    0, 255).astype(np.uint8)
            clip_mask[:shared] = 0.0
        clip, clip_mask = padded(clip, window), padded(clip_mask, window)
        call = dict(reference_images=refs, prompt=prompt, negative_prompt=negative_prompt, height=work_h,
                    width=work_w, num_frames=window, num_inference_steps=steps, guidance_scale=guidance,
                    output_type="np", generator=torch.Generator("cpu").manual_seed(seed + index),
                    callback_on_step_end=on_step)
        runner = pipe
        if steer is not None:
            seen = content[start:stop].copy()
            seen[:shared] = clip[:shared]
            clip_mask, overrides = steer.window(pipe, padded(seen, window), clip_mask, (start, stop, shared), **call)
            clip = padded(seen, window).copy()
            clip[clip_mask >= 0.5] = 127
            runner = overrides.pop("pipe", pipe)
            call.update(overrides)
        mask_images = _to_pil((np.clip(clip_mask, 0, 1) * 255).round().astype(np.uint8))
        result = runner(video=_to_pil(clip), mask=mask_images, **call).frames[0][: stop - start]
        # cross-fade: weights rise linearly over the overlap so windows meet without a seam
        ramp = np.ones(stop - start, np.float32)
        if shared:
            ramp[:shared] = np.linspace(0, 1, shared + 2, dtype=np.float32)[1:-1]
        out[start:stop] += result.astype(np.float32) * 255 * ramp[:, None, None, None]
        weight[start:stop] += ramp
    out = np.clip(out / weight[:, None, None, None], 0, 255).round().astype(np.uint8)
    return _resize(out, height, width, cv2.INTER_CUBIC)


def composite(original: np.ndarray, generated: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Model pixels where alpha is 1, original pixels where it is 0 (exactly), blended between."""
    out = original.copy()
    soft = alpha > 0
    a = alpha[soft][:, None].astype(np.float32)
    out[soft] = (generated[soft].astype(np.float32) * a + original[soft].astype(np.float32) * (1 - a)).round()
    return out
