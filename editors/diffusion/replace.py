"""Replace with Wan2.1-VACE, GenVideo's way (seed 001): the new object as VACE's reference image (on white), the
region to regenerate from InvEdit, latent correction in the first steps, background protection in every step.

Per window of vace.generate (its `steer` seam), on the window's frames at the model's size:
1. the source latents (VAE) and the initial noise, shared by every pass of the window;
2. InvEdit (invedit.py): the model on the re-noised source latents under the old object's vs the new object's
   reference for a few early steps; the averaged |difference|, thresholded and cleaned inside a generous region
   around both objects, united with the placed silhouette and the old object = the mask VACE regenerates;
3. the generation, through a pipeline that shares the registry's modules but has a first-order scheduler
   (FlowMatchEulerDiscreteScheduler: no multistep history to go stale when latents are edited between steps) and
   widened callback inputs; its step callback
   - latent correction (latent_correction.py) in the first steps: each frame's latents inside the mask blended
     with its neighbours' through nearest-neighbour fields of a middle transformer block's features (a forward
     hook), weights w-1, w0, w+1 summing to 1;
   - background protection: outside the mask, the latents are replaced by the source latents re-noised at the
     step's sigma (the same noise), so the background stays the source's.
The model's pixels are taken inside the mask (feathered); outside it the output is the input, bit for bit.
The new object's masks are the placement's silhouettes (what the user asked for, and what the model was shown).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..core import masks as M
from ..core.devices import gpu
from ..core.dispatch import DiffusionSettings
from ..core.placement import Placement
from ..core.results import ReplacementResult
from . import invedit
from . import latent_correction as lc

INVEDIT_STEPS = 3            # early steps whose noise predictions InvEdit averages
CORRECTION_SHARE = 0.2       # latent correction in the first fifth of the steps (GenVideo: 5 of 50 ... early)
_STEERED_CLASSES: dict = {}


def steered_pipeline(pipe):
    """A pipeline of pipe's class and modules (shared, nothing copied) with a first-order flow-matching scheduler
    of the same shift and `noise_pred` / `conditioning_latents` added to its callback's tensor inputs."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    base = type(pipe)
    if base not in _STEERED_CLASSES:
        widened = list(base._callback_tensor_inputs) + ["noise_pred", "conditioning_latents"]
        _STEERED_CLASSES[base] = type(f"Steered{base.__name__}", (base,), {"_callback_tensor_inputs": widened})
    config = pipe.scheduler.config
    shift = float(config.get("flow_shift") or config.get("shift") or 3.0)
    components = dict(pipe.components, scheduler=FlowMatchEulerDiscreteScheduler(shift=shift))
    steered = _STEERED_CLASSES[base](**components, boundary_ratio=pipe.config.get("boundary_ratio"))
    steered.set_progress_bar_config(disable=True)
    return steered


class _WithTap:
    """Calls the pipeline with the feature hook in place, and always takes it off again (the model is shared)."""

    def __init__(self, pipe, tap: lc.FeatureTap):
        self.pipe, self.tap = pipe, tap

    def __call__(self, **kwargs):
        with self.tap:
            return self.pipe(**kwargs)


def _latent_mask(mask: np.ndarray, frames: int, size: tuple[int, int], temporal: int = 4) -> np.ndarray:
    """(F_latent, h, w) bool: the latent cells whose pixels (any of their frames) touch `mask`, grown by a cell."""
    h, w = size
    out = np.zeros((frames, h, w), bool)
    for j in range(frames):
        span = mask[:1] if j == 0 else mask[4 * j - 3:4 * j + 1]
        if len(span):
            touched = cv2.resize(span.any(axis=0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
            out[j] = M.dilate(touched, 1)
    return out


def on_white(rgba: np.ndarray) -> np.ndarray:
    """An RGBA object on a white background (how VACE takes reference images)."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    return np.clip(rgba[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


class GenVideoSteer:
    """vace.generate's steer for replacement: InvEdit mask, latent correction, background protection."""

    def __init__(self, core: np.ndarray, region: np.ndarray, source_reference: np.ndarray,
                 target_reference: np.ndarray, *, invedit_steps: int = INVEDIT_STEPS,
                 correction_share: float = CORRECTION_SHARE, weights=lc.WEIGHTS):
        self.core, self.region = core, region                 # (T, H, W) bool at the clip's size
        self.references = (source_reference, target_reference)
        self.invedit_steps, self.correction_share, self.weights = invedit_steps, correction_share, weights
        self.work: np.ndarray | None = None                   # the regenerated mask at the model's size
        self.corrected_steps = 0                              # steps latent correction ran in (all windows)

    def _at(self, masks: np.ndarray, start: int, stop: int, shared: int, length: int, size) -> np.ndarray:
        h, w = size
        part = np.stack([cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                         for m in masks[start:stop]])
        part[:shared] = False                                 # guide frames are finished: never regenerated
        return np.concatenate([part, np.repeat(part[-1:], length - len(part), 0)]) if length > len(part) else part

    def window(self, pipe, content: np.ndarray, mask: np.ndarray, window: tuple[int, int, int], **call):
        """-> (the window's mask to regenerate, the pipeline call's overrides): see the module docstring."""
        import torch
        from PIL import Image

        start, stop, shared = window
        length, height, width = content.shape[:3]
        region = self._at(self.region, start, stop, shared, length, (height, width))
        core = self._at(self.core, start, stop, shared, length, (height, width))
        steered = steered_pipeline(pipe)
        device = steered._execution_device
        z_source = invedit.source_latents(steered, content)                  # (1, C, F, h, w)
        channels, frames, h, w = z_source.shape[1:]
        references = 1
        noise = torch.randn((1, channels, frames + references, h, w), generator=call["generator"],
                            dtype=torch.float32).to(device)
        pictures = tuple(Image.fromarray(r) for r in self.references)
        greyed = content.copy()
        greyed[region] = 127
        probe = dict(call, video=[Image.fromarray(f) for f in greyed],
                     mask=[Image.fromarray(m.astype(np.uint8) * 255) for m in region])
        difference = invedit.difference_map(steered, probe, pictures, z_source, noise,
                                            min(self.invedit_steps, int(call["num_inference_steps"])))
        final = invedit.mask_from_difference(difference, region, core)
        final[:shared] = False
        if self.work is None:
            self.work = np.zeros((len(self.core), height, width), bool)
        self.work[start:stop] |= final[:stop - start]
        latent_mask = torch.from_numpy(_latent_mask(final, frames, (h, w))).to(device)
        callback = self._callback(steered, z_source, noise, latent_mask, references, call)
        return final.astype(np.float32), {"pipe": callback.runner, "latents": noise,
                                          "callback_on_step_end": callback,
                                          "callback_on_step_end_tensor_inputs": ["latents"]}

    def _callback(self, steered, z_source, noise, latent_mask, references: int, call: dict):
        import torch

        transformer = steered.transformer
        tap = lc.FeatureTap(transformer.blocks[len(transformer.blocks) // 2])
        _, ph, pw = transformer.config.patch_size
        frames, h, w = latent_mask.shape
        padded_mask = torch.cat([torch.zeros_like(latent_mask[:references]), latent_mask])   # reference slots free
        token_mask = torch.nn.functional.max_pool2d(padded_mask.float()[:, None], (ph, pw))[:, 0] > 0
        grid = (frames + references, h // ph, w // pw)
        correct_until = max(1, round(self.correction_share * int(call["num_inference_steps"])))
        progress = call.get("callback_on_step_end")
        keep_outside = ~latent_mask[None, None]
        steer = self

        def on_step(pipeline, step, timestep, kwargs):
            latents = kwargs["latents"]
            features = tap.frames(grid)
            if step < correct_until and features is not None:
                fields = lc.neighbour_fields(features, token_mask, first=references)
                latents = lc.blend(latents, fields, padded_mask, patch=(ph, pw), first=references,
                                   weights=steer.weights)
                steer.corrected_steps += 1
            tap.reset()
            sigma = float(pipeline.scheduler.sigmas[step + 1])
            protected = invedit.renoise(z_source, noise[:, :, references:], sigma).to(latents)
            video = latents[:, :, references:]
            latents = torch.cat([latents[:, :, :references], torch.where(keep_outside, protected, video)], dim=2)
            if progress is not None:
                progress(pipeline, step, timestep, {})
            return {"latents": latents}

        on_step.runner = _WithTap(steered, tap)
        return on_step

    def mask(self, size: tuple[int, int]) -> np.ndarray:
        """The regenerated region at the clip's size ((T, H, W) bool): every window's, plus the core."""
        height, width = size
        if self.work is None:
            return self.core.copy()
        full = np.stack([cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
                         for m in self.work])
        return full | self.core


def _seconds(frames, source, placement, *, diffusion: DiffusionSettings = DiffusionSettings(), **_):
    from .vace import estimate_seconds

    # each window runs its steps once and InvEdit's early steps twice more (no guidance)
    steps = diffusion.steps + INVEDIT_STEPS
    return estimate_seconds(len(frames), frames.shape[1], frames.shape[2], steps)


@gpu(duration=_seconds)
def replace_object(frames: np.ndarray, source: np.ndarray, placement: Placement, *, keep: np.ndarray | None = None,
                   effects: bool = True, diffusion: DiffusionSettings = DiffusionSettings(),
                   progress=None) -> ReplacementResult:
    """Same contract as editors.classic.replace.replace_object, on VACE (see the module docstring)."""
    from . import vace

    silhouettes = placement.silhouettes()
    size = float(np.sqrt(max(source.sum(axis=(1, 2)).max(), 1)))
    core = M.dilate(source | silhouettes, 2)
    # where InvEdit may add to it: around both objects, wide enough for the old one's shadow with effects
    region = M.dilate(core, M.object_band_radius(source) if effects else max(4, round(0.15 * size)))
    reference = placement.reference
    box = M.bounding_box(source[reference])
    source_rgba = np.dstack([frames[reference], source[reference].astype(np.uint8) * 255])
    if box is not None:
        x0, y0, x1, y1 = box
        source_rgba = source_rgba[y0:y1, x0:x1]
    steer = GenVideoSteer(core, region, on_white(source_rgba), on_white(placement.target))
    generated = vace.generate(frames, core.astype(np.float32), prompt=diffusion.prompt, steps=diffusion.steps,
                              guidance=diffusion.guidance, seed=diffusion.seed, model=diffusion.model,
                              registry=diffusion.registry, progress=progress, steer=steer,
                              reference_images=[on_white(placement.target)])
    regenerated = steer.mask(frames.shape[1:3])
    alpha = M.feather(M.dilate(regenerated, 1), 3)
    if keep is not None:
        alpha[keep] = 0                 # kept objects stay exactly as they are
    result = vace.composite(frames, generated, alpha)
    masks = silhouettes & ~keep if keep is not None else silhouettes
    return ReplacementResult(result, masks, alpha > 0)
