"""Camera motion between frames, and the order in which other frames are tried as sources.

Shared by the classic engines (editors/classic/fill.py fills a region from other frames aligned by these).
Motion is a chain of homographies between neighbouring frames, estimated only on pixels the caller marks as
reliable (never on the object being removed, never outside the original frame).
"""
from __future__ import annotations

import cv2
import numpy as np

_MAX_SIDE = 480          # motion is estimated on frames scaled down to this side: faster, no less robust
_MIN_INLIERS = 12


def _grey_small(frame: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    h, w = frame.shape[:2]
    scale = min(1.0, side / max(h, w))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return grey, scale


def _small_mask(valid: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if valid is None:
        return None
    small = cv2.resize(valid.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return small


def pair_homography(a: np.ndarray, b: np.ndarray, valid_a=None, valid_b=None, side: int = _MAX_SIDE) -> np.ndarray:
    """Homography mapping pixel coordinates of frame `b` onto frame `a` (identity when motion is unclear).

    Corners tracked with pyramidal Lucas-Kanade from a to b (both scaled down to at most `side` pixels),
    forward-backward checked, fitted with RANSAC.
    """
    grey_a, scale = _grey_small(a, side)
    grey_b, _ = _grey_small(b, side)
    mask_a = _small_mask(valid_a, grey_a.shape)
    mask_b = _small_mask(valid_b, grey_b.shape)
    corners = cv2.goodFeaturesToTrack(grey_a, maxCorners=600, qualityLevel=0.005, minDistance=6, mask=mask_a)
    if corners is None or len(corners) < _MIN_INLIERS:
        return np.eye(3)
    lk = dict(winSize=(21, 21), maxLevel=4, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    moved, status, _ = cv2.calcOpticalFlowPyrLK(grey_a, grey_b, corners, None, **lk)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(grey_b, grey_a, moved, None, **lk)
    good = (status[:, 0] == 1) & (status_back[:, 0] == 1) & (np.linalg.norm(back - corners, axis=2)[:, 0] < 1.0)
    if mask_b is not None:
        xy = np.round(moved[:, 0]).astype(int)
        inside = (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < grey_b.shape[1]) & (xy[:, 1] < grey_b.shape[0])
        good &= inside
        good[inside] &= mask_b[xy[inside, 1], xy[inside, 0]] > 0
    if good.sum() < _MIN_INLIERS:
        return np.eye(3)
    src = moved[good, 0] / scale
    dst = corners[good, 0] / scale
    homography, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 2.0 / scale)
    if homography is None or inliers.sum() < _MIN_INLIERS or not _plausible(homography, a.shape):
        affine, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0 / scale)
        if affine is None or inliers.sum() < _MIN_INLIERS:
            return np.eye(3)
        homography = np.vstack([affine, [0, 0, 1]])
    return homography / homography[2, 2]


def _plausible(homography: np.ndarray, shape) -> bool:
    """Reject degenerate fits: corners must stay a convex quad of similar area."""
    h, w = shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])[None]
    moved = cv2.perspectiveTransform(corners, homography)[0]
    area = cv2.contourArea(moved)
    return cv2.isContourConvex(moved.astype(np.float32)) and 0.5 < area / (w * h) < 2.0


def neighbour_homographies(frames: np.ndarray, valid=None, progress=None, side: int = _MAX_SIDE) -> np.ndarray:
    """(T-1, 3, 3): element t maps frame t+1's coordinates onto frame t's.

    valid: where the static scene may be measured, a (T, H, W) bool array or a function t -> (H, W) bool (then
    each frame's mask is made when its pair is measured, never a clip-sized array); None = everywhere."""
    count = len(frames)
    valid_at = valid if callable(valid) or valid is None else valid.__getitem__
    out = np.tile(np.eye(3), (max(count - 1, 0), 1, 1))
    previous = valid_at(0) if valid_at and count else None
    for t in range(count - 1):
        current = valid_at(t + 1) if valid_at else None
        out[t] = pair_homography(frames[t], frames[t + 1], previous, current, side)
        previous = current
        if progress and t % 8 == 0:
            progress((t + 1) / max(count - 1, 1), "estimating camera motion")
    return out


def to_reference(neighbours: np.ndarray, reference: int) -> np.ndarray:
    """(T, 3, 3): element s maps frame s's coordinates onto frame `reference`'s (chained)."""
    count = len(neighbours) + 1
    out = np.tile(np.eye(3), (count, 1, 1))
    for s in range(reference + 1, count):          # s -> s-1 -> ... -> reference
        out[s] = out[s - 1] @ neighbours[s - 1]
    for s in range(reference - 1, -1, -1):         # s -> s+1 -> ... -> reference
        out[s] = out[s + 1] @ np.linalg.inv(neighbours[s])
    return out / out[:, 2:3, 2:3]


def source_order(target: int, count: int, max_sources: int | None = None) -> list[int]:
    """Other frames by distance in time, nearest first, alternating after/before."""
    order = []
    for d in range(1, count):
        for s in (target + d, target - d):
            if 0 <= s < count:
                order.append(s)
    return order[:max_sources] if max_sources else order


class Chain:
    """Homographies between any two frames of a clip from its neighbour homographies (neighbour_homographies)."""

    def __init__(self, neighbours: np.ndarray):
        self.to_first = to_reference(neighbours, 0)      # s -> frame 0
        self.from_first = np.linalg.inv(self.to_first)

    def source_to_target(self, s: int, t: int) -> np.ndarray:
        """Maps frame s's pixel coordinates onto frame t's."""
        return self.from_first[t] @ self.to_first[s]
