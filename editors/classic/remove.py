"""Classic (CPU, no weights) object + effect removal: the remove editor's embedded engine.

Generative Omnimatte's idea (seed 000) without a diffusion model. The trimask says which pixels must go
(REMOVE: the object), which must stay bit-identical (KEEP) and where the object's *effects* may live
(MAY_CHANGE: a band around it, where its cast shadow falls). All work is per frame on a region of interest
around the object; other frames are only read.

1. **Camera motion**: neighbour homographies on KEEP pixels only (`core.motion.pair_homography`), chained.
2. **Effects** (effects=True): on a few frames the input is compared with an effect-free background made
   from frames spread over the clip (camera-aligned, refined by optical flow on illumination-free texture,
   exposure-matched; the median of frames that saw the pixel outside any band, else an upper percentile of
   frames where it was not the object; effects.py). The darkening measured around the object is explained by
   *one* cast-shadow model for the clip (shadow.py): the silhouette flattened onto its contact line, leaning,
   shifted, with a penumbra and a per-channel darkness (a distant light on a ground plane), found by a coarse
   search, a robust refinement and a Nelder-Mead polish. When the model explains enough of what is measured it
   is applied to every
   frame and the shadow is *relit* (input / (1 - darkness x matte)): the frame keeps its own texture. When
   nothing shadow-like is explained, nothing in the band is touched (a per-frame data-driven detector exists
   behind `data_driven=True`).
3. **Hole** (object + small margin): filled from the nearest frames in time, both directions, exposure
   matched (fill.py); a source is used only where it agrees with the real pixels around the hole (extrapolated
   into the hole), so a background that moves on its own (followed subjects, people, water) is not pasted in.
4. **Never-seen pixels**: inpainted once on an anchor frame and carried to later frames while that still
   agrees with their surroundings: no flicker on a static background.

Everything outside `changed` (object + margin + relit effect) is bit-identical to the input. Memory: besides
the input, the outputs (frames, background: uint8) and a uint8 layer mask; per-frame work on ROIs, a small
cache of source masks, a handful of frames' measurements for the model fit.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from ..core import masks as M
from ..core import motion
from ..core import trimask as tm
from ..core.geometry import Box
from ..core.results import RemovalResult
from . import fill
from .effects import EffectStage
from .shadow import ShadowModel


def _scale(height: int, width: int) -> float:
    """Sizes below are in pixels at 240 lines; scale them with the clip."""
    return max(0.5, min(height, width) / 240.0)


def check_width(scale: float) -> int:
    """Width of the ring of real pixels around a hole that a source must agree with."""
    return max(3, round(4 * scale))


class Regions(NamedTuple):
    """One frame's regions on its ROI (bool arrays)."""
    remove: np.ndarray          # the object
    band: np.ndarray            # may change: where its effects live
    ring: np.ndarray            # KEEP pixels around the band (reference for measurements)
    fill: np.ndarray            # what is replaced: the object + a small margin into the band


class _Removal:
    """One removal, stage by stage (the order of the module docstring); per-frame work on ROIs."""

    def __init__(self, frames, trimask, progress, *, max_sources, fit_frames, data_driven, min_quality,
                 tolerances, motion_side):
        self.frames, self.trimask = frames, trimask
        self.count, self.height, self.width = frames.shape[:3]
        self.scale = _scale(self.height, self.width)
        self.margin = max(1, round(2 * self.scale))
        self.ring_width = max(4, round(6 * self.scale))
        self.progress = progress
        self.max_sources, self.fit_frames, self.data_driven = max_sources, fit_frames, data_driven
        self.min_quality, self.tolerances, self.motion_side = min_quality, tolerances, motion_side
        self.out = frames.copy()
        # LAYER_OBJECT: the object (+ margin), replaced; LAYER_EFFECT: its effect, relit. Also the bookkeeping.
        self.layer = np.zeros((self.count, self.height, self.width), np.uint8)
        self.rois: list[Box | None] = [Box.of_mask(~tm.kept(trimask[t]), self.ring_width + 1)
                                       for t in range(self.count)]
        self.geo: motion.Chain | None = None
        self.model: ShadowModel | None = None

    def report(self, fraction, desc):
        if self.progress:
            self.progress(float(min(1.0, fraction)), desc)

    def regions(self, t) -> Regions:
        tri = self.trimask[t][self.rois[t].slices]
        keep, remove = tm.kept(tri), tm.removed(tri)
        band = ~keep & ~remove
        ring = keep & M.dilate(~keep, self.ring_width)
        return Regions(remove, band, ring, remove | (M.dilate(remove, self.margin) & band))

    # ---- 1. camera motion
    def estimate_motion(self) -> None:
        """Neighbour homographies on KEEP pixels only (never the object, nor the band where its shadow moves)."""
        trimask = self.trimask

        def valid(t):
            keep = tm.kept(trimask[t])
            # a frame that is nearly all band/object: fall back to "not the object" so motion still has texture
            return keep if keep.mean() > 0.15 else ~tm.removed(trimask[t])

        report = (lambda fraction, text: self.report(0.2 * fraction, text)) if self.progress else None
        self.geo = motion.Chain(motion.neighbour_homographies(self.frames, valid, report, self.motion_side))
        for t, roi in enumerate(self.rois):
            if roi is not None:
                self.layer[t][roi.slices][self.regions(t).fill] = tm.LAYER_OBJECT

    # ---- 2. effects
    def remove_effects(self) -> None:
        """Fit one cast-shadow model to the darkening measured on a few frames and relight every frame by it
        (or, when no model explains what is measured and data_driven is on, relight shadow-like regions frame
        by frame)."""
        stage = EffectStage(self.frames, self.trimask, self.geo, self.scale)
        with_band = [t for t in range(self.count) if self.rois[t] is not None and self.regions(t).band.any()]
        picks = sorted({with_band[i] for i in np.linspace(0, len(with_band) - 1, min(self.fit_frames,
                                                                                     len(with_band)))
                        .round().astype(int)}) if with_band else []
        evidence = {}
        for i, t in enumerate(picks):
            evidence[t] = self._evidence(stage, t)
            self.report(0.2 + 0.1 * (i + 1) / len(picks), "measuring shadows and reflections")
        model = ShadowModel.fit(list(evidence.values()), stage.work) if evidence else None
        model = model if self._explains(model) else None
        fine_work = min(1.0, 1.0 / self.scale)        # ~240 lines: exact enough, affordable on large clips
        if model is not None and stage.work < fine_work:
            full = EffectStage(self.frames, self.trimask, self.geo, self.scale, work=fine_work)
            fine = [self._evidence(full, t) for t in picks[len(picks) // 4::max(1, len(picks) // 3)][:3]]
            model = model.refine(fine, fine_work)
        self.model = model if self._explains(model) else None
        if self.model is None and not self.data_driven:
            return
        for t in with_band:
            regions = self.regions(t)
            if self.model is not None:
                found = self.model.apply(regions.remove, regions.band, regions.fill)
            else:
                found = stage.detect(evidence.pop(t, None) or self._evidence(stage, t), regions.band, regions.fill)
            if found is not None:
                self._relight(t, *found)
            self.report(0.3 + 0.3 * (t + 1) / self.count, "removing shadows and reflections")

    def _evidence(self, stage: EffectStage, t: int):
        regions = self.regions(t)
        return stage.evidence(t, self.rois[t], regions.band, regions.fill, regions.ring, regions.remove)

    def _explains(self, model: ShadowModel | None) -> bool:
        return model is not None and model.quality >= self.min_quality and float(model.darkness.mean()) >= 0.08

    def _relight(self, t, alpha, correction) -> None:
        """The shadow's pixels divided by its darkening: the frame keeps its own texture under it."""
        hit = alpha > 0.02
        region = self.out[t][self.rois[t].slices]
        relit = region[hit].astype(np.float32) * np.exp(-np.minimum(correction[hit], 0.0))
        region[hit] = np.clip(relit + 0.5, 0, 255).astype(np.uint8)
        self.layer[t][self.rois[t].slices][hit] = tm.LAYER_EFFECT

    # ---- 3. the hole from other frames
    def fill_from_other_frames(self) -> dict[int, np.ndarray]:
        """Nearest frames first. With a shadow model every frame's effect was relit, so any pixel that is not
        an object serves; without one, band pixels may still hold an effect, so they only serve where no pixel
        outside every band (or relit) was seen. -> {frame: packed bits of ROI pixels no frame could fill}."""
        layer, trimask = self.layer, self.trimask

        def not_object(s):
            return layer[s] != tm.LAYER_OBJECT

        def clean(s):
            return tm.kept(trimask[s]) | (layer[s] == tm.LAYER_EFFECT)

        tiers = [fill.SourceMasks(not_object)] if self.model is not None else \
            [fill.SourceMasks(clean), fill.SourceMasks(not_object)]
        missing: dict[int, np.ndarray] = {}
        for t in range(self.count):
            if self.rois[t] is None:
                continue
            todo = self.layer[t][self.rois[t].slices] == tm.LAYER_OBJECT
            order = motion.source_order(t, self.count, self.max_sources)
            for valid, tolerance in [(v, tol) for tol in self.tolerances for v in tiers]:
                todo &= ~self._fill_hole(t, todo, valid, order, tolerance)
                if not todo.any():
                    break
            if todo.any():
                missing[t] = np.packbits(todo)
            self.report(0.6 + 0.3 * (t + 1) / self.count, "filling from other frames")
        return missing

    def _fill_hole(self, t, todo, valid, order, tolerance=10.0) -> np.ndarray:
        """Fill `todo` (ROI bool) of frame t from `order`'s valid pixels; -> what was filled."""
        roi = self.rois[t]
        hole = self.layer[t][roi.slices] == tm.LAYER_OBJECT
        check = M.dilate(hole, check_width(self.scale)) & ~hole
        region = self.out[t][roi.slices]
        agreement = fill.LowPassAgreement(check, self.scale, tolerance)
        pixels, got = fill.from_other_frames(todo, region, self.out, valid,
                                             lambda s: roi.to_frame() @ self.geo.source_to_target(s, t), order,
                                             agreement, pad=check_width(self.scale) + 2, tries=16)
        region[got] = np.clip(pixels[got] + 0.5, 0, 255).astype(np.uint8)
        return got

    # ---- 4. never-seen pixels
    def fill_never_seen(self, missing: dict[int, np.ndarray]) -> None:
        """Inpaint once on an anchor frame, carry it to later frames as long as it agrees with their
        surroundings (no flicker on a static background, fresh inpainting where it moved)."""
        anchors: list[int] = []
        radius = max(3, round(4 * self.scale))
        everything = fill.SourceMasks(lambda s: np.ones((self.height, self.width), bool))
        for t in sorted(missing):
            roi = self.rois[t]
            todo = np.unpackbits(missing.pop(t), count=roi.height * roi.width).astype(bool)
            todo = todo.reshape(roi.height, roi.width)
            if anchors:
                todo &= ~self._fill_hole(t, todo, everything, sorted(anchors, key=lambda a: abs(a - t))[:3])
            if todo.any():
                region = self.out[t][roi.slices]
                region[:] = cv2.inpaint(np.ascontiguousarray(region), todo.view(np.uint8), radius,
                                        cv2.INPAINT_TELEA)
                anchors.append(t)
        self.report(0.97, "inpainting unseen pixels")

    def result(self) -> RemovalResult:
        changed = self.layer > 0
        # guarantee: outside the changed region the output is the input, bit for bit
        np.copyto(self.out, self.frames, where=~changed[..., None])
        self.report(1.0, "done")
        return RemovalResult(frames=self.out, background=self.out.copy(), changed=changed, layer_mask=self.layer)


def remove_objects(frames: np.ndarray, trimask: np.ndarray, *, effects: bool = True, progress=None,
                   max_sources: int = 60, fit_frames: int = 8, data_driven: bool = False,
                   min_quality: float = 0.4, tolerances=(10.0,), motion_side: int = 320,
                   keep=None, diffusion=None) -> RemovalResult:
    """Remove the REMOVE pixels of `trimask` and, with effects=True, the shadow they cast inside the
    MAY_CHANGE band, from `frames`. Pixels outside the returned `changed` mask are bit-identical to the input.

    frames (T, H, W, 3) uint8 RGB; trimask (T, H, W) float32 (core.trimask).
    max_sources: how many frames (nearest in time) may fill a frame's hole; fit_frames: frames measured to
    fit the cast-shadow model; min_quality: share of the measured darkening the model must explain to be
    used; data_driven: without a model, relight shadow-like dark regions frame by frame (finds irregular
    effects, but may also touch background that moved on its own; off by default).
    progress(fraction, description) is called as the work advances. keep (kept objects: already KEEP in the
    trimask) and diffusion (settings of the model engine) are the editor's engine arguments, unused here.
    """
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    if trimask.shape != frames.shape[:3]:
        raise ValueError(f"trimask shape {trimask.shape} does not match frames {frames.shape[:3]}")
    removal = _Removal(frames, trimask, progress, max_sources=max_sources, fit_frames=fit_frames,
                       data_driven=data_driven, min_quality=min_quality, tolerances=tolerances,
                       motion_side=motion_side)
    if all(r is None for r in removal.rois):
        return removal.result()
    removal.estimate_motion()
    if effects:
        removal.remove_effects()
    removal.fill_never_seen(removal.fill_from_other_frames())
    return removal.result()
