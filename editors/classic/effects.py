"""Effects of classic removal: measure how the band around a removed object differs from its effect-free
background, and (without a shadow model) detect shadow-like regions frame by frame.

`EffectStage.evidence(t, ...)` compares frame t with a background estimated from other frames spread over the
clip (camera-aligned, refined by optical flow on illumination-free texture, exposure-matched; the median of
frames that saw the pixel outside any band, else an upper percentile of frames where it was not the object).
The shadow model (shadow.py) is fitted to that evidence; `detect` is the data-driven alternative.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core import masks as M
from ..core import motion
from ..core.flow import Flow
from ..core.geometry import Box, resize_between
from ..core.trimask import kept as is_kept
from ..core.trimask import removed
from .fill import push_pull


def _texture(grey: np.ndarray, invalid: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 image for optical flow: high-pass of log intensity (illumination and soft shadows removed),
    flat grey where `invalid` (no false edges from objects or borders)."""
    f = np.log(grey.astype(np.float32) + 4.0)
    hp = f - cv2.GaussianBlur(f, (0, 0), sigma)
    hp = np.clip(128.0 + 300.0 * hp, 0, 255)
    hp[invalid] = 128.0
    return hp.astype(np.uint8)



def _normalized_blur(values: np.ndarray, weight: np.ndarray, sigma: float):
    w = weight.astype(np.float32)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    num = cv2.GaussianBlur(values * w[..., None], (0, 0), sigma)
    return num / np.maximum(den, 1e-4)[..., None], den


def _effect_sources(t: int, count: int, k: int, window: int = 60) -> list[int]:
    """Frames to estimate the effect-free background from: spread over the clip (an effect moves with its
    object, so far frames rarely share it) within +-`window` frames, plus the nearest ones."""
    lo, hi = max(0, t - window), min(count - 1, t + window)
    picks = [s for s in (t - 2, t + 2) if lo <= s <= hi]
    spread = np.linspace(lo, hi, k + 2)
    for s in np.round(spread).astype(int):
        if s != t and s not in picks:
            picks.append(int(s))
    for s in motion.source_order(t, count):
        if len(picks) >= k:
            break
        if s not in picks and lo <= s <= hi:
            picks.append(s)
    return picks[:k]


@dataclass
class Evidence:
    """Darkening measured around the removed object on one frame, at the work resolution of its ROI."""
    t: int
    roi: Box
    size: tuple                 # work-resolution (w, h) of the ROI
    lum: np.ndarray             # smoothed log(input / background), mean over channels
    smooth: np.ndarray          # per channel
    known: np.ndarray           # background estimated here
    band: np.ndarray
    ring: np.ndarray
    fill: np.ndarray
    obj: np.ndarray             # soft object mask (work resolution)
    noise: float
    spread: np.ndarray
    resid: np.ndarray
    dispersion: np.ndarray
    raw: np.ndarray | None = None   # unsmoothed per-channel log ratio, valid where `usable`
    usable: np.ndarray | None = None


class EffectStage:
    """Detect and relight the effects (shadows, reflections) of the removed objects in the band."""

    def __init__(self, frames, trimask, geo: motion.Chain, scale: float, samples: int = 14, percentile: float = 0.7,
                 refine: bool = True, work: float | None = None):
        self.refine = refine
        self.frames, self.trimask, self.geo = frames, trimask, geo
        self.flow = Flow("fast", finest_scale=1)
        self.scale = scale
        # effects are smooth: measure them at ~120 lines
        self.work = min(1.0, 0.5 / scale) if work is None else work
        self.samples = samples
        self.percentile = percentile

    def evidence(self, t, roi, band, fill, ring, remove) -> Evidence:
        """Compare frame t with an effect-free background estimated from other frames (work resolution)."""
        frames, geo = self.frames, self.geo
        h, w = roi.height, roi.width
        f = self.work
        ws = (max(8, round(w * f)), max(8, round(h * f)))
        down = resize_between((w, h), ws)
        shift = roi.to_frame()

        def small(mask):
            return cv2.resize(mask.astype(np.float32), ws, interpolation=cv2.INTER_AREA)

        band_w, fill_w, ring_w = small(band) > 0.5, small(fill) > 0.01, small(ring) > 0.99
        image_w = cv2.resize(frames[t][roi.slices], ws, interpolation=cv2.INTER_AREA).astype(np.float32)
        stack, clean, ok = [], [], []
        grey_t = cv2.cvtColor(image_w.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        tex_t = _texture(grey_t, fill_w, 2.0)
        gy, gx = np.mgrid[0:ws[1], 0:ws[0]].astype(np.float32)
        # sources are shrunk first (area average) when the work resolution is much lower: no aliasing
        pre = f if f < 0.4 else 1.0
        height, width = frames.shape[1:3]
        small_size = (max(1, round(width * pre)), max(1, round(height * pre)))
        up = resize_between(small_size, (width, height))
        for s in _effect_sources(t, len(frames), self.samples):
            warp = down @ shift @ geo.source_to_target(s, t)
            src = frames[s]
            tri = self.trimask[s]
            obj = removed(tri).view(np.uint8) * np.uint8(255)
            kept = is_kept(tri).view(np.uint8) * np.uint8(255)
            if pre < 1.0:
                warp = warp @ up
                src = cv2.resize(src, small_size, interpolation=cv2.INTER_AREA)
                obj = cv2.resize(obj, small_size, interpolation=cv2.INTER_AREA)
                kept = cv2.resize(kept, small_size, interpolation=cv2.INTER_AREA)
            pix = cv2.warpPerspective(src, warp, ws, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            objw = cv2.warpPerspective(obj, warp, ws, flags=cv2.INTER_LINEAR, borderValue=255)
            keptw = cv2.warpPerspective(kept, warp, ws, flags=cv2.INTER_LINEAR, borderValue=0)
            if self.refine:
                # residual alignment (parallax, drift of the homography chain, background that moves on its
                # own) by optical flow on illumination-free texture, trusted off both objects
                tex_s = _texture(cv2.cvtColor(pix, cv2.COLOR_RGB2GRAY), objw > 0, 2.0)
                flow = self.flow(tex_t, tex_s)
                trust = (~fill_w & (objw == 0)).astype(np.float32)
                if trust.mean() > 0.1:
                    flow = push_pull(flow, trust)
                    mx, my = gx + flow[..., 0], gy + flow[..., 1]
                    pix = cv2.remap(pix, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    objw = cv2.remap(objw, mx, my, cv2.INTER_LINEAR, borderValue=255)
                    keptw = cv2.remap(keptw, mx, my, cv2.INTER_LINEAR, borderValue=0)
            pix = pix.astype(np.float32)
            both = ring_w & (keptw > 247)
            if both.sum() >= 12:        # exposure drift between frames
                gain = np.median((image_w[both] + 1.0) / (pix[both] + 1.0), axis=0)
                pix *= np.clip(gain, 0.7, 1.4).astype(np.float32)
            stack.append(pix)
            ok.append(objw < 8)
            clean.append(keptw > 247)
        stack = np.stack(stack)           # (K, h, w, 3) float32
        ok, clean = np.stack(ok), np.stack(clean)
        # where at least two frames saw the pixel outside any band (surely effect-free), use only those;
        # elsewhere every frame where it was not the object, with an upper percentile (effects darken)
        n_clean = clean.sum(axis=0)
        use = np.where((n_clean >= 2)[None], clean, ok)
        n = use.sum(axis=0)
        q = np.where(n_clean >= 2, 0.5, self.percentile)
        stack[~use] = -1.0
        stack.sort(axis=0)
        k = len(stack)
        idx = (k - n) + np.floor(q * np.maximum(n - 1, 0) + 0.5).astype(np.int64)
        idx = np.clip(idx, 0, k - 1)
        background = np.take_along_axis(stack, idx[None, :, :, None].repeat(3, axis=3), axis=0)[0]
        known = n >= 2
        # how much the frames disagree about the background here (it moves on its own: people, water...)
        base = k - n
        span = np.maximum(n - 1, 0)
        def rank(index):
            index = np.clip(index, 0, k - 1)[None, :, :, None].repeat(3, axis=3)
            return np.take_along_axis(stack, index, axis=0)[0]

        q1 = rank(base + np.floor(0.25 * span).astype(np.int64))
        q3 = rank(base + np.ceil(0.75 * span).astype(np.int64))
        dispersion = np.log((np.maximum(q3, 0) + 3.0) / (np.maximum(q1, 0) + 3.0)).mean(axis=2)

        log_ratio = np.log((image_w + 3.0) / (background + 3.0))
        usable = known & (band_w | ring_w) & ~fill_w
        smooth, den = _normalized_blur(log_ratio, usable, 1.0)
        known = usable & (den > 0.2)
        lum = smooth.mean(axis=2)
        spread = smooth.max(axis=2) - smooth.min(axis=2)
        # texture mismatch: what a smooth ratio does not explain, relative to the texture present
        resid = np.abs(log_ratio - smooth).mean(axis=2)

        noise_px = ring_w & known
        noise = float(np.percentile(np.abs(lum[noise_px]), 75)) if noise_px.sum() >= 20 else 0.08
        obj_w = small(remove)
        return Evidence(t=t, roi=roi, size=ws, lum=lum, smooth=smooth, known=known, band=band_w, ring=ring_w,
                         fill=fill_w, obj=obj_w, noise=noise, spread=spread, resid=resid,
                         dispersion=dispersion, raw=log_ratio, usable=usable & (n >= 2))

    def detect(self, ev: Evidence, band, fill):
        """Data-driven detection (no shadow model): dark components that look like a shadow.
        -> (alpha, correction) full-resolution ROI arrays or None."""
        lum, smooth, known, ring_w, band_w, fill_w = ev.lum, ev.smooth, ev.known, ev.ring, ev.band, ev.fill
        spread, resid, noise = ev.spread, ev.resid, ev.noise
        h, w = ev.roi.height, ev.roi.width
        low = float(np.clip(1.0 * noise, 0.08, 0.2))
        high = float(np.clip(1.8 * noise, 0.16, 0.3))
        region = band_w & known & ~fill_w
        cand_region = (band_w | ring_w) & known & ~fill_w
        dark = cand_region & (lum < -low) & (smooth.max(axis=2) < -0.3 * low)
        obj_near = M.dilate(fill_w, 2)
        obj_area = max(int(fill_w.sum()), 1)
        matte = np.zeros(lum.shape, np.float32)
        colour = np.zeros(smooth.shape, np.float32)
        grow = M.disk(2)
        n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(dark.view(np.uint8), connectivity=8)
        for lab in range(1, n_lab):
            comp = labels == lab
            area = int(stats[lab, cv2.CC_STAT_AREA])
            in_band = comp & region
            if in_band.sum() < 4:
                continue
            feats = dict(
                area=area / obj_area, ring_frac=float((comp & ring_w).sum()) / area,
                touches=bool((comp & obj_near).any()),
                lum=float(np.median(lum[comp])), strong=float((lum[comp] < -high).mean()),
                spread=float(np.median(spread[comp])), resid=float(np.mean(resid[comp])),
            )
            if not self._accept(feats):
                continue
            # a shadow is one darkening (per channel) times a soft matte: robust darkness from the core,
            # the matte from the smoothed ratio (the penumbra around the core included)
            core = in_band & (lum < -high)
            if core.sum() < 4:
                core = in_band
            c = np.median(smooth[core], axis=0)
            c_lum = float(c.mean())
            zone = (cv2.dilate(comp.view(np.uint8), grow) > 0) & region
            a = np.clip(lum / c_lum, 0.0, 1.25) * zone
            better = a > matte
            matte[better] = a[better]
            colour[better] = c
        if not matte.any():
            return None
        matte = cv2.resize(matte, (w, h), interpolation=cv2.INTER_LINEAR)
        colour = cv2.resize(colour, (w, h), interpolation=cv2.INTER_NEAREST)
        matte[fill | ~band] = 0.0
        return matte, colour * matte[..., None]

    @staticmethod
    def _accept(f) -> bool:
        """A cast shadow: clearly and mostly strongly darker, the same ratio in every channel, explained by a
        smooth ratio (the background's texture shows through), inside the band, attached or big."""
        if f["strong"] < 0.3 or f["lum"] > -0.12:
            return False
        if f["spread"] > 0.08 + 0.15 * abs(f["lum"]):
            return False
        if f["resid"] > 0.06 + 0.15 * abs(f["lum"]):
            return False
        if f["ring_frac"] > 0.2:
            return False
        if f["area"] < 0.01 or (not f["touches"] and f["area"] < 0.1):
            return False
        return True
