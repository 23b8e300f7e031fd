"""The cast-shadow model of classic removal: one light, one ground plane, one shadow geometry for a whole clip.

A removed object's shadow is its silhouette flattened onto its contact line (squash), leaning (shear), shifted,
with a penumbra (sigma) and a per-channel darkness. `ShadowModel.fit` finds the geometry that best explains the
darkening measured around the object on a few frames (effects.Evidence): a coarse search (every shift at once by
correlation), a robust (truncated quadratic) refinement, a Nelder-Mead polish (scipy) on full-resolution
measurements. `apply` gives, on any frame, the shadow's matte and the log correction that relights it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import minimize

from ..core.geometry import Box


def cast_shape(obj: np.ndarray, foot: float, shear: float, squash: float, dx: float, dy: float,
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


class Silhouette:
    """The removed object(s) of one frame as grounded parts, each casting from its own contact line: pieces
    whose horizontal extents overlap (or nearly: a rider and his bike, a raised arm) are one part, small
    pieces apart (a racket held out) belong to the nearest part; objects side by side are separate parts."""

    def __init__(self, obj: np.ndarray):
        obj = obj.astype(np.float32)
        binary = obj > 0.5
        self.shape = obj.shape
        self.parts: list[tuple[np.ndarray, float]] = []
        self.height = 0.0
        box = Box.of_mask(binary)
        if box is None:
            return
        join = max(2, round(0.08 * box.height))
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
            shadow = cast_shape(part, foot, shear, squash, dx, dy, sigma)
            out = shadow if out is None else np.maximum(out, shadow)
        return out if out is not None else np.zeros(self.shape, np.float32)


@dataclass
class ShadowModel:
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
        sil = Silhouette(obj)
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
            sil = Silhouette(ev.obj)
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
                    if not plausible_shadow(trial, height):
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
            if not plausible_shadow(x, height):
                return 0.0
            return -cls._robust(data, x, tolerance)[0]

        start = np.asarray(params, np.float64)
        simplex = np.vstack([start, start + np.diag([0.1, 0.05, 3.0, 3.0, 0.8])])
        found = minimize(cost, start, method="Nelder-Mead",
                         options={"initial_simplex": simplex, "maxfev": 160, "xatol": 1e-3,
                                  "fatol": 1e-4 * max(abs(cost(start)), 1e-4)})
        return list(found.x) if found.fun < cost(start) else list(params)

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
                    box = Box.of_mask(shape > 0.02)
                    if box is None:
                        continue
                    bx0, by0, bx1, by1 = box.as_tuple()
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

    def refine(self, fine: list, work: float = 1.0, tolerance: float = 0.15) -> ShadowModel:
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


def plausible_shadow(params, height: float) -> bool:
    """Flattening in (0.03, 1.2], penumbra up to a tenth of the object, the shadow starting near the
    contact line: shifts up to 0.3 of the object's height sideways and down, 0.1 up."""
    shear, squash, dx, dy, sigma = params
    return (0.03 < squash <= 1.2 and 0.3 <= sigma <= max(1.0, 0.1 * height) and abs(shear) <= 2.0
            and -0.1 * height <= dy <= 0.3 * height and abs(dx) <= 0.3 * height)
