"""The classic engines' shared fill: pixels for a region of a frame from other frames that saw it.

    filled = from_other_frames(need, target, frames, SourceMasks(valid_fn), warp_of, order, agreement, pad=...)

Used by removal (the hole an object leaves, effects.py / remove.py), outpaint (the new border) and the editors
built on them (replace: what the old object uncovers; edit: delete). A source frame is aligned by a homography
(core.motion), only its valid pixels are used (never the object, never what moves on its own), and only where
an `agreement` check says it shows the same thing as the target around the region:
- `LowPassAgreement` (removal): exposure matched, low-pass difference on the real pixels bordering the hole,
  extrapolated into it;
- `EdgeAgreement` (outpaint): local difference on the nearest pixels both show, next to the strip.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..core.geometry import Box, rectangle, resize_between

_ERODE = np.ones((3, 3), np.uint8)


def exposure_gain(target: np.ndarray, source: np.ndarray, ring: np.ndarray) -> np.ndarray:
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


def push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
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


class SourceMasks:
    """Usable pixels of each source frame (`valid(s)` -> (H, W) bool; a few recent ones cached), and a quarter-
    size 'any valid' version for quick rejects."""

    def __init__(self, valid: Callable[[int], np.ndarray], keep: int = 48):
        self.valid = valid
        self.cache: dict[int, np.ndarray] = {}
        self.small: dict[int, np.ndarray] = {}
        self.keep = keep
        self.size: tuple[int, int] | None = None      # (w, h) of the source frames

    def full(self, s: int) -> np.ndarray:
        """(H, W) uint8 view, 1 = usable."""
        mask = self.cache.pop(s, None)
        if mask is None:
            mask = np.ascontiguousarray(self.valid(s)).view(np.uint8)
            self.size = (mask.shape[1], mask.shape[0])
        self.cache[s] = mask                      # most recently used last
        if len(self.cache) > self.keep:
            del self.cache[next(iter(self.cache))]
        return mask

    def sees_any(self, s: int, warp: np.ndarray, todo_small: np.ndarray, todo_size: tuple[int, int]) -> bool:
        """Whether source s may have a usable pixel on `todo_small` (a todo region of `todo_size` (w, h) shrunk
        to a quarter), warp mapping s's pixels onto the todo region's. Conservative: False means none."""
        if s not in self.small:
            v = self.full(s)
            self.small[s] = (cv2.resize(v, (v.shape[1] // 4, v.shape[0] // 4),
                                        interpolation=cv2.INTER_AREA) > 0).view(np.uint8) * np.uint8(255)
            if len(self.small) > 4 * self.keep:
                del self.small[next(iter(self.small))]
        small_src = self.small[s]
        small_warp = resize_between(todo_size, todo_small.shape[::-1]) @ warp @ \
            np.linalg.inv(resize_between(self.size, small_src.shape[::-1]))
        seen = cv2.warpPerspective(small_src, small_warp, todo_small.shape[::-1], flags=cv2.INTER_LINEAR,
                                   borderValue=0)
        return bool((seen[todo_small] > 0).any())


class LowPassAgreement:
    """Removal's check: on `check` pixels (real target pixels bordering the hole, target coordinates) the
    exposure gain and the low-pass difference are measured, the difference is extrapolated into the hole, and
    where it exceeds `tolerance` grey levels (the background moved on its own: a followed subject, people,
    water) the source is not used there."""

    def __init__(self, check: np.ndarray, scale: float, tolerance: float = 10.0):
        self.check, self.scale, self.tolerance = check, scale, tolerance

    def __call__(self, pixels: np.ndarray, target: np.ndarray, box: Box, seen: np.ndarray,
                 take: np.ndarray) -> np.ndarray:
        compare = self.check[box.slices] & seen
        if compare.sum() < 20:
            return take                              # nothing to compare with: no evidence against
        tgt = target[box.slices]
        pixels *= exposure_gain(tgt, pixels, compare)
        return take & (_lowpass_difference(tgt, pixels, seen, compare, self.scale) < self.tolerance)


class EdgeAgreement:
    """Outpaint's check: a source is not used where it disagrees with the target on the nearest pixels both
    show (`known` target pixels it also sees, within `margin`): local mean abs difference > threshold. Such a
    source shows something else there (a dog that ran past, another exposure): its strip would be a streak."""

    def __init__(self, known: np.ndarray, threshold: float = 40.0, margin: int = 16):
        self.known, self.threshold, self.margin = known, threshold, margin

    @property
    def reach(self) -> int:
        """Pixels around the region the check reads (its margin + the 7x7 local mean)."""
        return self.margin + 4

    def __call__(self, pixels: np.ndarray, target: np.ndarray, box: Box, seen: np.ndarray,
                 take: np.ndarray) -> np.ndarray:
        overlap = seen & self.known[box.slices]
        return take & ~_disagrees(pixels, target[box.slices], overlap, take, self.threshold, self.margin)


def from_other_frames(need: np.ndarray, target: np.ndarray, frames: np.ndarray, valid: SourceMasks,
                      warp_of: Callable[[int], np.ndarray], order, agreement, *, pad: int,
                      tries: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill `need` ((h, w) bool, target coordinates) from other frames' valid pixels, in the given order
    (nearest in time first).

    target: (h, w, 3) the target's pixels (real where not needed: what `agreement` compares with);
    warp_of(s): 3x3 mapping frame s's pixels onto target coordinates; pad: pixels around what is still to fill
    that the agreement check may read; tries: at most this many sources that give pixels (None: no limit).
    Work is limited to the bounding box of what is still to fill.
    Returns (float32 pixels (h, w, 3), filled (h, w) bool).
    """
    h, w = need.shape
    out = np.zeros((h, w, 3), np.float32)
    got = np.zeros(need.shape, bool)
    todo = need.copy()
    source_rect = rectangle(frames.shape[2], frames.shape[1])
    for s in order:
        box = Box.of_mask(todo, pad)
        if box is None:
            break
        warp_full = warp_of(s)
        corners = cv2.perspectiveTransform(source_rect, warp_full)[0]
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        # the source's rectangle misses what is still to fill: skip it without warping (a static clip)
        if min(box.x1, x1) <= max(box.x0, x0) or min(box.y1, y1) <= max(box.y0, y0) or \
                not todo[max(box.y0, y0):min(box.y1, y1), max(box.x0, x0):min(box.x1, x1)].any():
            continue
        todo_b = todo[box.slices]
        warp = box.to_frame() @ warp_full
        size = (box.width, box.height)
        small = cv2.resize(todo_b.view(np.uint8), (max(1, size[0] // 4), max(1, size[1] // 4)),
                           interpolation=cv2.INTER_AREA) > 0
        if small.any() and not valid.sees_any(s, warp, small, size):
            continue
        seen = cv2.warpPerspective(valid.full(s), warp, size, flags=cv2.INTER_NEAREST, borderValue=0)
        if not (todo_b & (seen > 0)).any():
            continue
        # shrink by a pixel so interpolation never mixes in invalid (object / off-frame) pixels
        seen = cv2.erode(seen, _ERODE, borderValue=1) > 0
        take = todo_b & seen
        if not take.any():
            continue
        if tries is not None:
            tries -= 1
            if tries < 0:
                break
        pixels = cv2.warpPerspective(frames[s], warp, size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        take = agreement(pixels, target, box, seen, take)
        if not take.any():
            continue
        out[box.slices][take] = pixels[take]
        got[box.slices] |= take
        todo_b &= ~take
    return out, got


def _lowpass_difference(target: np.ndarray, pixels: np.ndarray, seen: np.ndarray, compare: np.ndarray, scale: float):
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
    err = push_pull(err[..., None].astype(np.float32), strength * 2.0)[..., 0]
    return cv2.resize(err, (w, h), interpolation=cv2.INTER_LINEAR)


def nearest_known(known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance to, raster-order index among np.nonzero(known) of) the nearest known pixel, per pixel."""
    dist, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                   labelType=cv2.DIST_LABEL_PIXEL)
    return dist, np.maximum(labels - 1, 0)


def _disagrees(pixels: np.ndarray, current: np.ndarray, overlap: np.ndarray, take: np.ndarray,
               threshold: float, margin: int = 16) -> np.ndarray:
    """Where a source's pixels would be taken (take) but the source disagrees with the current frame on the
    nearest pixels both show (overlap, looked for within `margin` pixels): local mean abs difference >
    threshold. Such a source shows something else there (a dog that ran past, another exposure): its strip
    would be a visible streak. No overlap nearby = no evidence = agree."""
    bad = np.zeros(take.shape, bool)
    ys, xs = np.nonzero(take)
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, take.shape[0])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, take.shape[1])
    near = overlap[y0:y1, x0:x1]
    if not near.any():
        return bad
    diff = np.abs(pixels[y0:y1, x0:x1].astype(np.int16) - current[y0:y1, x0:x1].astype(np.int16)).max(axis=2)
    weight = near.astype(np.float32)
    local = cv2.blur(diff.astype(np.float32) * weight, (7, 7)) / np.maximum(cv2.blur(weight, (7, 7)), 1e-3)
    dist, index = nearest_known(near)
    verdict = local[near][index] > threshold
    bad[y0:y1, x0:x1] = verdict & (dist <= margin) & take[y0:y1, x0:x1]
    return bad
