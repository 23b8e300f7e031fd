"""GenVideo's InvEdit mask (seed 001) on Wan2.1-VACE: where the edit must happen, from the model itself.

The model is run on the source clip's latents, re-noised, for a few early denoising steps twice: once with the old
object as VACE's reference image (source conditioning), once with the new object (target conditioning). Where
the two predictions differ is where the new object (of another shape and size) changes the picture; the
difference, averaged over the steps and channels, normalised, thresholded (DiffEdit's 0.5) and cleaned, is the
shape-aware mask, which the caller unites with the placed silhouette.

Runs through the pipeline itself (no fork): a step callback records each step's noise prediction (the steered
pipeline widens `_callback_tensor_inputs` to "noise_pred") and sets the next step's latents to the source latents
re-noised at that step's sigma; the run stops after `count` steps and never decodes.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..core import masks as M

THRESHOLD = 0.5          # DiffEdit's binarisation of the normalised difference


def source_latents(pipe, frames: np.ndarray):
    """(1, C, F_latent, h, w) float32: the VAE's normalised latents of frames (T, H, W, 3) uint8, as the pipeline
    normalises its own (mean / std of the VAE's config)."""
    import torch
    from PIL import Image

    device = pipe._execution_device
    video = pipe.video_processor.preprocess_video([Image.fromarray(f) for f in frames], frames.shape[1],
                                                  frames.shape[2]).to(device=device, dtype=pipe.vae.dtype)
    with torch.no_grad():
        latents = pipe.vae.encode(video).latent_dist.mode().float()
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean, device=device, dtype=torch.float32).view(1, -1, 1, 1, 1)
    std = torch.tensor(config.latents_std, device=device, dtype=torch.float32).view(1, -1, 1, 1, 1)
    return (latents - mean) / std


def renoise(clean, noise, sigma: float):
    """Flow matching's forward process: (1 - sigma) * clean + sigma * noise."""
    return (1.0 - sigma) * clean + sigma * noise


def difference_map(pipe, call: dict, references: tuple, z_source, noise, count: int) -> np.ndarray:
    """(F_latent, h, w) float32: |noise prediction under the source reference − under the target reference|,
    averaged over the first `count` steps and the channels, on the video's latent frames.

    pipe: a steered VACE pipeline (first-order scheduler, widened callback inputs); call: its call arguments for
    this window (video, mask, prompt, sizes, steps...); references: (source image, target image) as PIL;
    z_source: the window's clean latents (1, C, F, h, w); noise: the initial latents (with the reference slots)."""
    import torch

    predictions = []
    references_count = noise.shape[2] - z_source.shape[2]
    for reference in references:
        recorded = []

        def record(pipeline, step, timestep, kwargs, recorded=recorded):
            recorded.append(kwargs["noise_pred"][:, :, references_count:].float())
            if len(recorded) >= count:
                pipeline._interrupt = True          # the remaining steps are skipped, nothing is decoded
                return {}
            sigma = float(pipeline.scheduler.sigmas[step + 1])
            latents = kwargs["latents"].clone()
            latents[:, :, references_count:] = renoise(z_source, noise[:, :, references_count:], sigma).to(latents)
            return {"latents": latents}

        start = noise.clone()
        sigma = float(pipe.scheduler.sigmas[0]) if getattr(pipe.scheduler, "sigmas", None) is not None else 1.0
        start[:, :, references_count:] = renoise(z_source, noise[:, :, references_count:], sigma)
        options = {k: v for k, v in call.items() if k not in ("callback_on_step_end", "output_type")}
        options.update(reference_images=[reference], guidance_scale=1.0, latents=start, output_type="latent",
                       callback_on_step_end=record, callback_on_step_end_tensor_inputs=["latents", "noise_pred"])
        with torch.no_grad():
            pipe(**options)
        predictions.append(torch.stack(recorded).mean(0))
    difference = (predictions[0] - predictions[1]).abs().mean(dim=1)[0]      # (F_latent, h, w)
    return difference.cpu().numpy().astype(np.float32)


def latent_frame_of(frame: int, temporal: int = 4) -> int:
    """Wan's causal VAE: latent frame 0 is frame 0, latent frame j >= 1 holds frames 4j-3 .. 4j."""
    return 0 if frame == 0 else (frame - 1) // temporal + 1


def mask_from_difference(difference: np.ndarray, region: np.ndarray, core: np.ndarray,
                         threshold: float = THRESHOLD, temporal: int = 4) -> np.ndarray:
    """(T, H, W) bool: the InvEdit mask at the pixels of `region` ((T, H, W) bool, where the edit may happen),
    from the latent difference map (F_latent, h, w): upsampled, normalised by its high percentile inside the
    region, thresholded, cleaned (opened and closed at the size of one latent cell, holes filled), united with
    `core` (the placed silhouette and the old object)."""
    count, height, width = region.shape
    cell = max(1, round(height / difference.shape[1]))
    inside = np.zeros(region.shape, np.float32)
    for t in range(count):
        j = min(latent_frame_of(t, temporal), len(difference) - 1)
        inside[t] = cv2.resize(difference[j], (width, height), interpolation=cv2.INTER_LINEAR)
    values = inside[region]
    scale = float(np.percentile(values, 99)) if values.size else 0.0
    if scale <= 0:
        return core.copy()
    chosen = (inside / scale >= threshold) & region
    radius = max(1, cell // 2)
    chosen = M.dilate(M.erode(chosen, radius), radius)           # open: no specks
    chosen = M.erode(M.dilate(chosen, radius), radius)           # close: no cracks
    return (_fill_holes(chosen) & region) | core


def _fill_holes(masks: np.ndarray) -> np.ndarray:
    out = masks.copy()
    for t, m in enumerate(masks):
        if not m.any():
            continue
        inverse = (~m).astype(np.uint8)
        count, labels = cv2.connectedComponents(inverse, connectivity=4)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        out[t] = m | (~np.isin(labels, border) & (inverse > 0))
    return out
