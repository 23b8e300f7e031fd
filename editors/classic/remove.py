"""Classic (CPU, no weights) object + effect removal: the remove editor's embedded engine.

Generative Omnimatte's idea (seed 000) without a diffusion model. The trimask says which pixels must go
(REMOVE: the object), which must stay bit-identical (KEEP) and where the object's *effects* may live
(MAY_CHANGE: a band around it, where its cast shadow falls). All work is per frame on a region of interest
around the object; other frames are only read.

1. **Camera motion**: neighbour homographies on KEEP pixels only (`core.motion.pair_homography`), chained.
2. **Effects** (effects=True): on a few frames the input is compared with an effect-free background made
   from frames spread over the clip (camera-aligned, refined by optical flow on illumination-free texture,
   exposure-matched; the median of frames that saw the pixel outside any band, else an upper percentile of
   frames where it was not the object). The darkening measured around the object is explained by *one*
   cast-shadow model for the clip: the silhouette flattened onto its contact line, leaning, shifted, with a
   penumbra and a per-channel darkness (a distant light on a ground plane), found by a coarse search (all
   shifts at once by correlation), a robust (truncated quadratic) refinement and a Nelder-Mead polish on
   full-resolution measurements. When the model explains enough of what is measured it is applied to every
   frame and the shadow is *relit* (input / (1 - darkness x matte)): the frame keeps its own texture. When
   nothing shadow-like is explained, nothing in the band is touched (a per-frame data-driven detector exists
   behind `data_driven=True`).
3. **Hole** (object + small margin): filled from the nearest frames in time, both directions, exposure
   matched; a source is used only where it agrees with the real pixels around the hole (extrapolated into the
   hole), so a background that moves on its own (followed subjects, people, water) is not pasted in.
4. **Never-seen pixels**: inpainted once on an anchor frame and carried to later frames while that still
   agrees with their surroundings: no flicker on a static background.

Everything outside `changed` (object + margin + relit effect) is bit-identical to the input. Memory: besides
the input, the outputs (frames, background: uint8) and a uint8 layer mask; per-frame work on ROIs, a small
cache of source masks, a handful of frames' measurements for the model fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core import masks as M
from ..core import motion

_REMOVE_MAX = 0.25     # trimask <= this: remove
_KEEP_MIN = 0.75       # trimask >= this: keep


@dataclass
class RemovalResult:
    """frames: clean video; background: background estimate (the clean plate); changed: pixels allowed to
    differ from the input (object ∪ margin ∪ detected effects), everything else is bit-identical;
    layer_mask: 255 = removed object (opaque in layers), 128 = detected effect (alpha solved), 0 = untouched
    — pass it to `object_layers`."""

    frames: np.ndarray
    background: np.ndarray
    changed: np.ndarray
    layer_mask: np.ndarray


def _scale(height: int, width: int) -> float:
    """Sizes below are in pixels at 240 lines; scale them with the clip."""
    return max(0.5, min(height, width) / 240.0)


def _roi_of(mask: np.ndarray, pad: int) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad), max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad))


class _Motion:
    """Homographies between any two frames from a chain of neighbour homographies."""

    def __init__(self, neighbours: np.ndarray):
        self.to_first = motion.to_reference(neighbours, 0)      # s -> frame 0
        self.from_first = np.linalg.inv(self.to_first)

    def source_to_target(self, s: int, t: int) -> np.ndarray:
        """Maps frame s's pixel coordinates onto frame t's."""
        return self.from_first[t] @ self.to_first[s]


def _estimate_motion(frames, trimask, progress, side: int = 480) -> _Motion:
    """Neighbour homographies on KEEP pixels only (never the object, nor the band where its shadow moves), on
    frames scaled down to at most `side` pixels."""

    def valid(t):
        keep = trimask[t] >= _KEEP_MIN
        # a frame that is nearly all band/object: fall back to "not the object" so motion still has texture
        return keep if keep.mean() > 0.15 else trimask[t] > _REMOVE_MAX

    report = (lambda fraction, text: progress(0.2 * fraction, text)) if progress else None
    return _Motion(motion.neighbour_homographies(frames, valid, report, side))


def _gain(target: np.ndarray, source: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Per-channel exposure ratio target/source measured on ring pixels (robust median), clipped."""
    ys, xs = np.nonzero(ring)
    if len(ys) < 40:
        return np.ones(3, np.float32)
    if len(ys) > 400:
        pick = np.linspace(0, len(ys) - 1, 400).astype(np.int64)
        ys, xs = ys[pick], xs[pick]
    t = target[ys, xs].astype(np.float32) + 1.0
    s = source[ys, xs].astype(np.float32) + 1.0
    g = np.median(t / s, axis=0)
    return np.clip(g, 0.85, 1.18).astype(np.float32)


def _push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill where weight == 0 from coarser scales (pull-push interpolation); values (h, w, c) float32."""
    w = np.clip(weight.astype(np.float32), 0.0, 1.0)
    v = values * w[..., None]
    levels = [(v, w)]
    while min(v.shape[:2]) > 4:
        v = cv2.pyrDown(v)
        w = cv2.pyrDown(w)
        if v.ndim == 2:
            v = v[..., None]
        levels.append((v, w))
    colour = levels[-1][0] / np.maximum(levels[-1][1], 1e-6)[..., None]
    for v, w in reversed(levels[:-1]):
        up = cv2.resize(colour, (v.shape[1], v.shape[0]), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        norm = np.maximum(w, 1e-6)
        strength = np.minimum(w, 1.0)
        colour = (v / norm[..., None]) * strength[..., None] + up * (1.0 - strength[..., None])
    return colour


def _texture(grey: np.ndarray, invalid: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 image for optical flow: high-pass of log intensity (illumination and soft shadows removed),
    flat grey where `invalid` (no false edges from objects or borders)."""
    f = np.log(grey.astype(np.float32) + 4.0)
    hp = f - cv2.GaussianBlur(f, (0, 0), sigma)
    hp = np.clip(128.0 + 300.0 * hp, 0, 255)
    hp[invalid] = 128.0
    return hp.astype(np.uint8)


_DIS = None


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    global _DIS
    if _DIS is None:
        _DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        _DIS.setFinestScale(1)
    return _DIS.calc(a, b, None)


class _Valid:
    """Usable pixels of each source frame (a few recent ones cached), and a 1/4 'any valid' version for quick
    rejects."""

    def __init__(self, fn, keep: int = 48):
        self.fn = fn
        self.cache: dict[int, np.ndarray] = {}
        self.small: dict[int, np.ndarray] = {}
        self.keep = keep

    def full(self, s: int) -> np.ndarray:
        mask = self.cache.pop(s, None)
        if mask is None:
            mask = np.ascontiguousarray(self.fn(s)).view(np.uint8)
        self.cache[s] = mask                      # most recently used last
        if len(self.cache) > self.keep:
            del self.cache[next(iter(self.cache))]
        return mask

    def quick(self, s: int, warp: np.ndarray, todo_small: np.ndarray) -> bool:
        if s not in self.small:
            v = self.full(s)
            self.small[s] = (cv2.resize(v, (v.shape[1] // 4, v.shape[0] // 4),
                                        interpolation=cv2.INTER_AREA) > 0).view(np.uint8) * np.uint8(255)
            if len(self.small) > 4 * self.keep:
                del self.small[next(iter(self.small))]
        down = np.diag([0.25, 0.25, 1.0])
        small = down @ warp @ np.linalg.inv(down)
        seen = cv2.warpPerspective(self.small[s], small, todo_small.shape[::-1], flags=cv2.INTER_LINEAR,
                                   borderValue=0)
        return bool((seen[todo_small] > 0).any())


def _propagate(t, roi, need, check, target, sources, valid: _Valid, geo: _Motion, order, scale,
               tolerance=10.0, tries=16):
    """Fill `need` (ROI bool) of frame t from other frames' valid pixels, in the given order (nearest in time
    first), aligned by the camera homography.

    A source is trusted only where it agrees with the target around the hole: on `check` pixels (real target
    pixels bordering the hole) the exposure gain and the low-pass difference are measured, the difference is
    extrapolated into the hole, and where it exceeds `tolerance` grey levels (the background moved on its own:
    a followed subject, people, water) the source is not used: the pixel is left for a later source or for
    spatial inpainting. Work is limited to the bounding box of what is still to fill.
    Returns (float32 ROI pixels, bool ROI filled).
    """
    y0, y1, x0, x1 = roi
    h, w = y1 - y0, x1 - x0
    out = np.zeros((h, w, 3), np.float32)
    got = np.zeros(need.shape, bool)
    todo = need.copy()
    kernel = np.ones((3, 3), np.uint8)
    pad = int(np.ceil(check_width(scale))) + 2
    for s in order:
        box = _roi_of(todo, pad)
        if box is None:
            break
        by0, by1, bx0, bx1 = box
        bw, bh = bx1 - bx0, by1 - by0
        shift = np.array([[1, 0, -(x0 + bx0)], [0, 1, -(y0 + by0)], [0, 0, 1]], np.float64)
        warp = shift @ geo.source_to_target(s, t)
        todo_b = todo[by0:by1, bx0:bx1]
        small = cv2.resize(todo_b.view(np.uint8), (max(1, bw // 4), max(1, bh // 4)), interpolation=cv2.INTER_AREA) > 0
        if small.any() and not valid.quick(s, warp, small):
            continue
        seen = cv2.warpPerspective(valid.full(s), warp, (bw, bh), flags=cv2.INTER_NEAREST, borderValue=0)
        if not (todo_b & (seen > 0)).any():
            continue
        # shrink by a pixel so interpolation never mixes in invalid (object / padding) pixels
        seen = cv2.erode(seen, kernel) > 0
        take = todo_b & seen
        if not take.any():
            continue
        tries -= 1
        if tries < 0:
            break
        pixels = cv2.warpPerspective(sources[s], warp, (bw, bh), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        compare = check[by0:by1, bx0:bx1] & seen
        if compare.sum() >= 20:
            tgt = target[by0:by1, bx0:bx1]
            pixels *= _gain(tgt, pixels, compare)
            trust = _agreement(tgt, pixels, seen, compare, scale) < tolerance
            take &= trust
            if not take.any():
                continue
        out[by0:by1, bx0:bx1][take] = pixels[take]
        got[by0:by1, bx0:bx1] |= take
        todo_b &= ~take
    return out, got


def check_width(scale: float) -> float:
    return max(3, round(4 * scale))


def _agreement(target: np.ndarray, pixels: np.ndarray, seen: np.ndarray, compare: np.ndarray, scale: float):
    """Low-pass |source - target| on `compare` pixels, extrapolated over the box (quarter resolution)."""
    h, w = seen.shape
    f = 0.25 if min(h, w) >= 16 else 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    wgt = cv2.resize(compare.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    valid = cv2.resize(seen.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    tgt = cv2.resize(target.astype(np.float32) * compare[..., None], size, interpolation=cv2.INTER_AREA)
    src = cv2.resize(pixels * compare[..., None], size, interpolation=cv2.INTER_AREA)
    norm = np.maximum(wgt, 1e-6)[..., None]
    err = np.abs(tgt / norm - src / norm).mean(axis=2)
    strength = np.where(valid > 0.5, wgt, 0.0).astype(np.float32)
    err = _push_pull(err[..., None].astype(np.float32), strength * 2.0)[..., 0]
    return cv2.resize(err, (w, h), interpolation=cv2.INTER_LINEAR)


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
class _Evidence:
    t: int
    roi: tuple
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


def _cast_shape(obj: np.ndarray, foot: float, shear: float, squash: float, dx: float, dy: float,
                sigma: float) -> np.ndarray:
    """A cast shadow of a silhouette on the ground plane under a distant light: the silhouette flattened onto
    its contact line (squash), leaning (shear), shifted, with a soft penumbra (sigma). squash < 0 flips it
    below the contact line (a reflection)."""
    a = np.array([[1.0, -shear * squash, shear * squash * foot + dx],
                  [0.0, squash, (1.0 - squash) * foot + dy]], np.float64)
    flat = cv2.warpAffine(obj, a, (obj.shape[1], obj.shape[0]), flags=cv2.INTER_LINEAR, borderValue=0)
    return cv2.GaussianBlur(flat, (0, 0), sigma) if sigma > 0.3 else flat


def _foot(obj: np.ndarray) -> tuple[float, float] | None:
    rows = np.flatnonzero((obj > 0.5).any(axis=1))
    if not len(rows):
        return None
    return float(rows[-1]), float(rows[-1] - rows[0] + 1)


class _Silhouette:
    """The removed object(s) of one frame as grounded parts, each casting from its own contact line: pieces
    whose horizontal extents overlap (or nearly: a rider and his bike, a raised arm) are one part, small
    pieces apart (a racket held out) belong to the nearest part; objects side by side are separate parts."""

    def __init__(self, obj: np.ndarray):
        obj = obj.astype(np.float32)
        binary = obj > 0.5
        self.shape = obj.shape
        self.parts: list[tuple[np.ndarray, float]] = []
        self.height = 0.0
        box = _roi_of(binary, 0)
        if box is None:
            return
        join = max(2, round(0.08 * (box[1] - box[0])))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.view(np.uint8), connectivity=8)
        spans = sorted((stats[lab, cv2.CC_STAT_LEFT], stats[lab, cv2.CC_STAT_LEFT] + stats[lab, cv2.CC_STAT_WIDTH],
                        lab) for lab in range(1, n))
        groups: list[list] = []
        for x0, x1, lab in spans:
            if groups and x0 <= groups[-1][1] + join:
                groups[-1][1] = max(groups[-1][1], x1)
                groups[-1][2].append(lab)
            else:
                groups.append([x0, x1, [lab]])
        # small groups (a racket, a ball held out) are not grounded: they join the nearest big group
        area = [int(stats[labs, cv2.CC_STAT_AREA].sum()) for _, _, labs in groups]
        big = [i for i, a in enumerate(area) if a >= 0.25 * max(area)]
        members = {i: list(groups[i][2]) for i in big}
        for i, (x0, x1, labs) in enumerate(groups):
            if i not in members:
                nearest = min(big, key=lambda j: abs((groups[j][0] + groups[j][1]) - (x0 + x1)))
                members[nearest] += labs
        for labs in members.values():
            part = np.where(np.isin(labels, labs), obj, 0.0).astype(np.float32)
            foot = _foot(part)
            if foot is not None:
                self.parts.append((part, foot[0]))
                self.height = max(self.height, foot[1])

    def cast(self, shear, squash, dx, dy, sigma) -> np.ndarray:
        out = None
        for part, foot in self.parts:
            shadow = _cast_shape(part, foot, shear, squash, dx, dy, sigma)
            out = shadow if out is None else np.maximum(out, shadow)
        return out if out is not None else np.zeros(self.shape, np.float32)


@dataclass
class _ShadowModel:
    """One cast-shadow geometry and darkness for the whole clip (one light, one ground), fitted to the
    darkening measured against the propagated background on the frames where it could be measured."""
    shear: float
    squash: float
    dx: float                   # full-resolution pixels
    dy: float
    sigma: float                # full-resolution pixels
    darkness: np.ndarray        # per channel: fraction of light removed under the full shadow
    quality: float

    def matte(self, obj: np.ndarray) -> np.ndarray | None:
        sil = _Silhouette(obj)
        if not sil.parts:
            return None
        return sil.cast(self.shear, self.squash, self.dx, self.dy, self.sigma)

    def apply(self, remove: np.ndarray, band: np.ndarray, fill: np.ndarray):
        """-> (alpha, log correction per channel) on a full-resolution ROI, or None."""
        shape = self.matte(remove)
        if shape is None:
            return None
        shape[fill | ~band] = 0.0
        if not (shape > 0.02).any():
            return None
        ratio = 1.0 - np.clip(shape[..., None] * self.darkness.astype(np.float32), 0.0, 0.95)
        return shape, np.log(ratio)

    @staticmethod
    def _data(evs: list, raw: bool = False):
        data = []
        for ev in evs:
            # trust the measurement less where the frames disagree about the background (it moves)
            where = (ev.usable if raw else ev.known) & ev.band & ~ev.fill
            weight = (where / (1.0 + (ev.dispersion / 0.15) ** 2)).astype(np.float32)
            sil = _Silhouette(ev.obj)
            if not sil.parts or weight.sum() < 20:
                continue
            ratio = ev.raw if raw else ev.smooth
            dark = np.clip(1.0 - np.exp(ratio), -0.5, 0.95).astype(np.float32)
            data.append((sil, None, sil.height, weight, dark.mean(axis=2), dark))
        return data

    @staticmethod
    def _robust(data, params, tolerance):
        """Truncated-quadratic gain of explaining the darkening by `params`, and the darkness."""
        shapes = [sil.cast(*params) for sil, *_ in data]
        num = sum(float((w * p * d).sum()) for p, (_, _, _, w, d, _) in zip(shapes, data))
        den = sum(float((w * p * p).sum()) for p, (_, _, _, w, _, _) in zip(shapes, data))
        if num <= 0 or den < 1.0:
            return 0.0, 0.0
        k = num / den
        for _ in range(2):          # refit the darkness on the pixels it explains
            num = den = 0.0
            for p, (_, _, _, w, d, _) in zip(shapes, data):
                inl = w * (np.abs(d - k * p) < tolerance)
                num += float((inl * p * d).sum())
                den += float((inl * p * p).sum())
            if num <= 0 or den < 1.0:
                return 0.0, 0.0
            k = num / den
        gain = 0.0
        t2 = tolerance * tolerance
        for p, (_, _, _, w, d, _) in zip(shapes, data):
            gain += float((w * (np.minimum(d * d, t2) - np.minimum((d - k * p) ** 2, t2))).sum())
        return gain, k

    @classmethod
    def _descend(cls, data, params, steps, height, tolerance, rounds=2):
        score, _ = cls._robust(data, params, tolerance)
        for _ in range(rounds):
            improved = False
            for i, step in steps:
                for sign in (-1, 1):
                    trial = list(params)
                    trial[i] += sign * step
                    if not _plausible_shadow(trial, height):
                        continue
                    sc, _ = cls._robust(data, trial, tolerance)
                    if sc > score:
                        score, params, improved = sc, trial, True
            if not improved:
                break
        return score, params

    @classmethod
    def _polish(cls, data, params, height, tolerance):
        """Nelder-Mead on the robust gain (the parameters are coupled: lean with shift, flattening with
        vertical shift; coordinate steps stall in those valleys)."""
        def cost(x):
            x = list(x)
            if not _plausible_shadow(x, height):
                return 0.0
            return -cls._robust(data, x, tolerance)[0]

        start = np.asarray(params, np.float64)
        best, value = _nelder_mead(cost, start, (0.1, 0.05, 3.0, 3.0, 0.8), evaluations=160)
        return list(best) if value < cost(start) else list(params)

    @classmethod
    def fit(cls, evs: list, work: float, tolerance: float = 0.15):
        """Search geometry (lean, flattening, shift, softness) and darkness that best explain the measured
        darkening around the object on several frames (work resolution), robust to darkening it does not
        explain (other shadows, moving background); then refine on `fine` full-resolution evidence.
        None when nothing shadow-like is there."""
        data = cls._data(evs)
        if not data:
            return None
        height = float(np.median([d[2] for d in data]))
        reach = int(round(0.3 * height)) + 1

        # 1. coarse: lean x flattening on a grid, every shift at once by correlation. A shadow on the ground
        # starts at the contact line: shifts up to 0.3 of the object's height sideways and down, little up.
        oy, ox = np.mgrid[-reach:reach + 1, -reach:reach + 1]
        plausible = (oy >= -0.1 * height).astype(np.float64)
        sigma0 = 1.5
        padded = [(cv2.copyMakeBorder(weight * dark, reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0),
                   cv2.copyMakeBorder(weight, reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0))
                  for _, _, _, weight, dark, _ in data]
        candidates = []
        for sh in np.arange(-1.6, 1.61, 0.2):
            for q in (0.12, 0.25, 0.4, 0.6, 0.8, 1.0):
                num = np.zeros((2 * reach + 1, 2 * reach + 1), np.float64)
                den = np.zeros_like(num)
                for (sil, *_), (evidence, support) in zip(data, padded):
                    shape = sil.cast(sh, q, 0.0, 0.0, sigma0)
                    box = _roi_of(shape > 0.02, 0)
                    if box is None:
                        continue
                    by0, by1, bx0, bx1 = box
                    kern = shape[by0:by1, bx0:bx1]
                    # the shape shifted by every offset in [-reach, reach]^2 against the evidence around it
                    num += cv2.matchTemplate(evidence[by0:by1 + 2 * reach, bx0:bx1 + 2 * reach], kern, cv2.TM_CCORR)
                    den += cv2.matchTemplate(support[by0:by1 + 2 * reach, bx0:bx1 + 2 * reach], kern * kern,
                                             cv2.TM_CCORR)
                sc = np.where((num > 0) & (den > 1.0), num * num / np.maximum(den, 1e-6), 0.0)
                sc *= plausible
                iy, ix = np.unravel_index(int(np.argmax(sc)), sc.shape)
                candidates.append((float(sc[iy, ix]), float(sh), q, float(ix - reach), float(iy - reach)))
        candidates.sort(reverse=True)

        # 2. robust local refinement of the best few, softness included
        steps = [(0, 0.1), (1, 0.05), (2, 1.0), (3, 1.0), (4, 0.5), (0, 0.05), (2, 0.5), (3, 0.5)]
        best = (0.0, None)
        for _, sh0, q0, ox0, oy0 in candidates[:5]:
            score, params = cls._descend(data, [sh0, q0, ox0, oy0, sigma0], steps, height, tolerance)
            if score > best[0]:
                best = (score, params)
        if best[1] is None:
            return None
        sh, q, dx, dy, sigma = best[1]
        return cls._finish(data, best[1], [sh, q, dx / work, dy / work, sigma / work], tolerance)

    def refine(self, fine: list, work: float = 1.0, tolerance: float = 0.15) -> _ShadowModel:
        """Polish the geometry on finer, unsmoothed measurements (exact lean, shift, penumbra); `fine` was
        measured at `work` times the full resolution."""
        data = self._data(fine, raw=True)
        if not data:
            return self
        height = float(np.median([d[2] for d in data]))
        start = [self.shear, self.squash, self.dx * work, self.dy * work, self.sigma * work]
        params = self._polish(data, start, height, tolerance)
        sh, q, dx, dy, sigma = params
        return self._finish(data, params, [sh, q, dx / work, dy / work, sigma / work], tolerance,
                            self.quality) or self

    @classmethod
    def _finish(cls, total_data, params, out_params, tolerance, coarse_quality: float = float("inf")):
        """The model at `params`; its quality is the worse of this fit's and an earlier (coarser) one's."""
        _, k = cls._robust(total_data, params, tolerance)
        # per-channel darkness on the explained pixels
        num = np.zeros(3)
        den = 0.0
        for sil, _, _, weight, dark_l, dark in total_data:
            shape = sil.cast(*params)
            inl = weight * (np.abs(dark_l - k * shape) < tolerance)
            num += ((inl * shape)[..., None] * dark).sum(axis=(0, 1))
            den += float((inl * shape * shape).sum())
        if den < 1.0:
            return None
        quality = min(coarse_quality, cls._quality(total_data, params, tolerance))
        return cls(*out_params, np.clip(num / den, 0.0, 0.95), quality)

    @classmethod
    def _quality(cls, data, params, tolerance) -> float:
        """Share of the (truncated) darkening energy where the model predicts a shadow that it explains."""
        gain, k = cls._robust(data, params, tolerance)
        total = 0.0
        for sil, _, _, weight, dark_l, _ in data:
            shape = sil.cast(*params)
            total += float((weight * (shape > 0.1) * np.minimum(dark_l * dark_l, tolerance * tolerance)).sum())
        return gain / max(total, 1e-6)


def _nelder_mead(cost, start: np.ndarray, steps, evaluations: int = 160, tol: float = 1e-4):
    """Minimise `cost` from `start` (initial simplex along `steps`); a small standard Nelder-Mead."""
    simplex = [start] + [start + np.eye(len(start))[i] * d for i, d in enumerate(steps)]
    values = [cost(x) for x in simplex]
    used = len(simplex)
    while used < evaluations:
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (abs(values[0]) + tol):
            break
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        reflected = centroid + (centroid - worst)
        fr = cost(reflected)
        used += 1
        if fr < values[0]:
            expanded = centroid + 2.0 * (centroid - worst)
            fe = cost(expanded)
            used += 1
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            inner = worst if fr >= values[-1] else reflected
            contracted = centroid + 0.5 * (inner - centroid)
            fc = cost(contracted)
            used += 1
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = contracted, fc
            else:                            # shrink towards the best
                for i in range(1, len(simplex)):
                    simplex[i] = simplex[0] + 0.5 * (simplex[i] - simplex[0])
                    values[i] = cost(simplex[i])
                used += len(simplex) - 1
    i = int(np.argmin(values))
    return simplex[i], values[i]


def _plausible_shadow(params, height: float) -> bool:
    """Flattening in (0.03, 1.2], penumbra up to a tenth of the object, the shadow starting near the
    contact line: shifts up to 0.3 of the object's height sideways and down, 0.1 up."""
    shear, squash, dx, dy, sigma = params
    return (0.03 < squash <= 1.2 and 0.3 <= sigma <= max(1.0, 0.1 * height) and abs(shear) <= 2.0
            and -0.1 * height <= dy <= 0.3 * height and abs(dx) <= 0.3 * height)


class _EffectStage:
    """Detect and relight the effects (shadows, reflections) of the removed objects in the band."""

    def __init__(self, frames, trimask, geo: _Motion, scale: float, samples: int = 14, percentile: float = 0.7,
                 refine: bool = True, work: float | None = None):
        self.refine = refine
        self.frames, self.trimask, self.geo = frames, trimask, geo
        self.scale = scale
        # effects are smooth: measure them at ~120 lines
        self.work = min(1.0, 0.5 / scale) if work is None else work
        self.samples = samples
        self.percentile = percentile

    def evidence(self, t, roi, band, fill, ring, remove) -> _Evidence:
        """Compare frame t with an effect-free background estimated from other frames (work resolution)."""
        frames, geo = self.frames, self.geo
        y0, y1, x0, x1 = roi
        h, w = y1 - y0, x1 - x0
        f = self.work
        ws = (max(8, round(w * f)), max(8, round(h * f)))
        fx, fy = ws[0] / w, ws[1] / h
        down = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]], np.float64)
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)

        def small(mask):
            return cv2.resize(mask.astype(np.float32), ws, interpolation=cv2.INTER_AREA)

        band_w, fill_w, ring_w = small(band) > 0.5, small(fill) > 0.01, small(ring) > 0.99
        image_w = cv2.resize(frames[t, y0:y1, x0:x1], ws, interpolation=cv2.INTER_AREA).astype(np.float32)
        stack, clean, ok = [], [], []
        grey_t = cv2.cvtColor(image_w.astype(np.uint8), cv2.COLOR_RGB2GRAY)
        tex_t = _texture(grey_t, fill_w, 2.0)
        gy, gx = np.mgrid[0:ws[1], 0:ws[0]].astype(np.float32)
        # sources are shrunk first (area average) when the work resolution is much lower: no aliasing
        pre = f if f < 0.4 else 1.0
        height, width = frames.shape[1:3]
        small_size = (max(1, round(width * pre)), max(1, round(height * pre)))
        sx, sy = width / small_size[0], height / small_size[1]
        up = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)
        for s in _effect_sources(t, len(frames), self.samples):
            warp = down @ shift @ geo.source_to_target(s, t)
            src = frames[s]
            tri = self.trimask[s]
            obj = (tri <= _REMOVE_MAX).view(np.uint8) * np.uint8(255)
            kept = (tri >= _KEEP_MIN).view(np.uint8) * np.uint8(255)
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
                flow = _flow(tex_t, tex_s)
                trust = (~fill_w & (objw == 0)).astype(np.float32)
                if trust.mean() > 0.1:
                    flow = _push_pull(flow, trust)
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
        return _Evidence(t=t, roi=roi, size=ws, lum=lum, smooth=smooth, known=known, band=band_w, ring=ring_w,
                         fill=fill_w, obj=obj_w, noise=noise, spread=spread, resid=resid,
                         dispersion=dispersion, raw=log_ratio, usable=usable & (n >= 2))

    def detect(self, ev: _Evidence, band, fill):
        """Data-driven detection (no shadow model): dark components that look like a shadow.
        -> (alpha, correction) full-resolution ROI arrays or None."""
        lum, smooth, known, ring_w, band_w, fill_w = ev.lum, ev.smooth, ev.known, ev.ring, ev.band, ev.fill
        spread, resid, noise = ev.spread, ev.resid, ev.noise
        y0, y1, x0, x1 = ev.roi
        h, w = y1 - y0, x1 - x0
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


def remove_objects(frames: np.ndarray, trimask: np.ndarray, *, effects: bool = True, progress=None,
                   max_sources: int = 60, fit_frames: int = 8, data_driven: bool = False,
                   min_quality: float = 0.4, tolerances=(10.0,), motion_side: int = 320) -> RemovalResult:
    """Remove the REMOVE pixels of `trimask` and, with effects=True, the shadow they cast inside the
    MAY_CHANGE band, from `frames`. Pixels outside the returned `changed` mask are bit-identical to the input.

    frames (T, H, W, 3) uint8 RGB; trimask (T, H, W) float32 (masks.REMOVE / MAY_CHANGE / KEEP).
    max_sources: how many frames (nearest in time) may fill a frame's hole; fit_frames: frames measured to
    fit the cast-shadow model; min_quality: share of the measured darkening the model must explain to be
    used; data_driven: without a model, relight shadow-like dark regions frame by frame (finds irregular
    effects, but may also touch background that moved on its own; off by default).
    progress(fraction, description) is called as the work advances.
    """
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.dtype} {frames.shape}")
    if trimask.shape != frames.shape[:3]:
        raise ValueError(f"trimask shape {trimask.shape} does not match frames {frames.shape[:3]}")
    count, height, width = frames.shape[:3]
    scale = _scale(height, width)
    margin = max(1, round(2 * scale))
    ring_w = max(4, round(6 * scale))
    check_w = int(check_width(scale))

    def report(fraction, desc):
        if progress:
            progress(float(min(1.0, fraction)), desc)

    out = frames.copy()
    # 255: the object (+ margin), replaced; 128: its effect, relit. Also the per-frame bookkeeping.
    layer = np.zeros((count, height, width), np.uint8)
    rois: list[tuple | None] = [_roi_of(trimask[t] < _KEEP_MIN, ring_w + 1) for t in range(count)]
    if all(r is None for r in rois):
        return RemovalResult(out, frames.copy(), np.zeros(layer.shape, bool), layer)

    def regions(t):
        """(remove, band, ring of KEEP pixels around the band, fill = remove + margin) on frame t's ROI."""
        y0, y1, x0, x1 = rois[t]
        tri_r = trimask[t, y0:y1, x0:x1]
        keep_r, remove_r = tri_r >= _KEEP_MIN, tri_r <= _REMOVE_MAX
        band_r = ~keep_r & ~remove_r
        ring = keep_r & M.dilate(~keep_r, ring_w)
        fill = remove_r | (M.dilate(remove_r, margin) & band_r)
        return remove_r, band_r, ring, fill

    geo = _estimate_motion(frames, trimask, progress and report, motion_side)
    for t in range(count):
        if rois[t] is not None:
            y0, y1, x0, x1 = rois[t]
            layer[t, y0:y1, x0:x1][regions(t)[3]] = 255

    # ---- effects: fit one cast-shadow model to the darkening measured on a few frames, apply it to every
    # frame (or, when no model explains what is measured and data_driven is on, relight shadow-like regions
    # frame by frame)
    model = None
    if effects:
        stage = _EffectStage(frames, trimask, geo, scale)
        with_band = [t for t in range(count) if rois[t] is not None and regions(t)[1].any()]
        picks = sorted({with_band[i] for i in np.linspace(0, len(with_band) - 1, min(fit_frames, len(with_band)))
                        .round().astype(int)}) if with_band else []
        evidence = {}
        for i, t in enumerate(picks):
            remove_r, band_r, ring, fill = regions(t)
            evidence[t] = stage.evidence(t, rois[t], band_r, fill, ring, remove_r)
            report(0.2 + 0.1 * (i + 1) / len(picks), "measuring shadows and reflections")
        model = _ShadowModel.fit(list(evidence.values()), stage.work) if evidence else None
        if model is not None and (model.quality < min_quality or float(model.darkness.mean()) < 0.08):
            model = None
        fine_work = min(1.0, 1.0 / scale)        # ~240 lines: exact enough, affordable on large clips
        if model is not None and stage.work < fine_work:
            full = _EffectStage(frames, trimask, geo, scale, work=fine_work)
            fine = []
            for t in picks[len(picks) // 4::max(1, len(picks) // 3)][:3]:
                remove_r, band_r, ring, fill = regions(t)
                fine.append(full.evidence(t, rois[t], band_r, fill, ring, remove_r))
            model = model.refine(fine, fine_work)
        if model is not None and (model.quality < min_quality or float(model.darkness.mean()) < 0.08):
            model = None
        if model is None and not data_driven:
            with_band = []
        for t in with_band:
            y0, y1, x0, x1 = rois[t]
            remove_r, band_r, ring, fill = regions(t)
            if model is not None:
                found = model.apply(remove_r, band_r, fill)
            else:
                ev = evidence.pop(t, None) or stage.evidence(t, rois[t], band_r, fill, ring, remove_r)
                found = stage.detect(ev, band_r, fill)
            if found is not None:
                alpha, correction = found
                hit = alpha > 0.02
                region = out[t, y0:y1, x0:x1]
                img = region[hit].astype(np.float32)
                relit = img * np.exp(-np.minimum(correction[hit], 0.0))
                region[hit] = np.clip(relit + 0.5, 0, 255).astype(np.uint8)
                layer[t, y0:y1, x0:x1][hit] = 128
            report(0.3 + 0.3 * (t + 1) / count, "removing shadows and reflections")
        del evidence

    # ---- the hole from other frames, nearest first. With a shadow model every frame's effect was relit, so
    # any pixel that is not an object serves; without one, band pixels may still hold an effect, so they only
    # serve where no pixel outside every band (or relit) was seen
    def not_object(s):
        return layer[s] != 255

    def clean(s):
        return (trimask[s] >= _KEEP_MIN) | (layer[s] == 128)

    tiers = [_Valid(not_object)] if model is not None else [_Valid(clean), _Valid(not_object)]
    missing: dict[int, np.ndarray] = {}     # frame -> packed bits of hole pixels no frame could fill
    for t in range(count):
        if rois[t] is None:
            continue
        y0, y1, x0, x1 = rois[t]
        todo = layer[t, y0:y1, x0:x1] == 255
        check = M.dilate(todo, check_w) & ~todo
        region = out[t, y0:y1, x0:x1]
        for valid, tolerance in [(v, tol) for tol in tolerances for v in tiers]:
            bg, got = _propagate(t, rois[t], todo, check, region, out, valid, geo,
                                 motion.source_order(t, count, max_sources), scale, tolerance=tolerance)
            region[got] = np.clip(bg[got] + 0.5, 0, 255).astype(np.uint8)
            todo &= ~got
            if not todo.any():
                break
        if todo.any():
            missing[t] = np.packbits(todo)
        report(0.6 + 0.3 * (t + 1) / count, "filling from other frames")

    # ---- never-seen pixels: inpaint once on an anchor frame, carry it to later frames as long as it agrees
    # with their surroundings (no flicker on a static background, fresh inpainting where it moved)
    anchors: list[int] = []
    radius = max(3, round(4 * scale))
    everything = _Valid(lambda s: np.ones((height, width), bool))
    for t in sorted(missing):
        y0, y1, x0, x1 = rois[t]
        shape = (y1 - y0, x1 - x0)
        todo = np.unpackbits(missing.pop(t), count=shape[0] * shape[1]).astype(bool).reshape(shape)
        region = out[t, y0:y1, x0:x1]
        if anchors:
            hole = layer[t, y0:y1, x0:x1] == 255
            check = M.dilate(hole, check_w) & ~hole
            order = sorted(anchors, key=lambda a: abs(a - t))[:3]
            bg, got = _propagate(t, rois[t], todo, check, region, out, everything, geo, order, scale)
            region[got] = np.clip(bg[got] + 0.5, 0, 255).astype(np.uint8)
            todo &= ~got
        if todo.any():
            region[:] = cv2.inpaint(np.ascontiguousarray(region), todo.view(np.uint8), radius, cv2.INPAINT_TELEA)
            anchors.append(t)
    report(0.97, "inpainting unseen pixels")

    changed = layer > 0
    # guarantee: outside the changed region the output is the input, bit for bit
    np.copyto(out, frames, where=~changed[..., None])
    report(1.0, "done")
    return RemovalResult(frames=out, background=out.copy(), changed=changed, layer_mask=layer)


def object_layers(frames: np.ndarray, background: np.ndarray, alpha_masks: np.ndarray) -> np.ndarray:
    """RGBA layer(s) whose composite over `background` reproduces `frames`.

    alpha_masks: (T, H, W) for one layer or (N, T, H, W) for N layers; bool, uint8 (0..255) or float (0..1).
    Full value (True / 255 / 1.0) marks the object: opaque, colour = input. Intermediate values mark its
    effect (shadow, reflection): the smallest alpha that explains input vs background is solved per pixel
    (a shadow becomes a dark, semi-transparent layer). 0: transparent.
    Returns (T, H, W, 4) or (N, T, H, W, 4) uint8.
    """
    alpha_masks = np.asarray(alpha_masks)
    if alpha_masks.ndim == 4:
        return np.stack([object_layers(frames, background, a) for a in alpha_masks])
    count = len(frames)
    layers = np.zeros(frames.shape[:3] + (4,), np.uint8)
    for t in range(count):
        hint = alpha_masks[t]
        if hint.dtype == bool:
            opaque, soft = hint, np.zeros(hint.shape, bool)
        elif hint.dtype == np.uint8:
            opaque, soft = hint >= 255, (hint > 0) & (hint < 255)
        else:
            opaque, soft = hint >= 0.999, (hint > 0) & (hint < 0.999)
        lay = layers[t]
        lay[opaque, :3] = frames[t][opaque]
        lay[opaque, 3] = 255
        if soft.any():
            img = frames[t][soft].astype(np.float32)
            bg = background[t][soft].astype(np.float32)
            diff = img - bg
            # per channel: alpha needed so that colour = bg + diff / alpha stays within [0, 255]
            need = np.where(diff < 0, -diff / np.maximum(bg, 1e-3), diff / np.maximum(255.0 - bg, 1e-3))
            a = np.clip(need.max(axis=1), 0.0, 1.0)
            a8 = np.ceil(a * 255.0 - 1e-3).clip(0, 255)
            af = a8 / 255.0
            colour = np.where(af[:, None] > 0, bg + diff / np.maximum(af, 1e-6)[:, None], 0.0)
            lay[soft, :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
            lay[soft, 3] = a8.astype(np.uint8)
    return layers


def composite(layers: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Layer(s) over the background (the inverse of object_layers), uint8; one frame at a time."""
    layers = np.asarray(layers)
    if layers.ndim == 5:
        out = background
        for layer in layers:
            out = composite(layer, out)
        return out
    out = np.empty(background.shape, np.uint8)
    for t in range(len(layers)):
        a = layers[t, ..., 3:4].astype(np.float32) / 255.0
        res = layers[t, ..., :3].astype(np.float32) * a + background[t].astype(np.float32) * (1.0 - a)
        out[t] = np.clip(res + 0.5, 0, 255).astype(np.uint8)
    return out
