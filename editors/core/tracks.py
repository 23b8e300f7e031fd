"""Tracked objects: what the Segment tab hands to the other tabs and what replace / edit consume.

A `TrackedObject` is one object through a clip: per-frame masks, boxes, visibility and a pose (the similarity
transform that carries the object from its reference frame to each frame, estimated from the masks). `Tracks`
holds a clip's objects, tied to the clip by a content hash, and is saved / loaded as one .npz file.
Masks of different objects never overlap: where two claim a pixel, the later id gives it up (`Tracks.add`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError
from .geometry import similarity


def clip_hash(frames: np.ndarray) -> str:
    """A content hash of a clip's frames (shape + a strided sample of every frame): masks belong to it."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(np.asarray(frames.shape, np.int64).tobytes())
    step = max(1, int(np.sqrt(frames.shape[1] * frames.shape[2] / 4096)))     # ~4k pixels a frame
    digest.update(np.ascontiguousarray(frames[:, ::step, ::step]).tobytes())
    return digest.hexdigest()


def _moments(mask: np.ndarray):
    """(area, centre x, centre y, orientation in radians, elongation >= 1) of an (H, W) mask."""
    ys, xs = np.nonzero(mask)
    area = float(len(xs))
    cx, cy = float(xs.mean()), float(ys.mean())
    dx, dy = xs - cx, ys - cy
    mxx, myy, mxy = float((dx * dx).mean()), float((dy * dy).mean()), float((dx * dy).mean())
    angle = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    spread = np.sqrt(((mxx - myy) / 2) ** 2 + mxy ** 2)
    major, minor = (mxx + myy) / 2 + spread, max((mxx + myy) / 2 - spread, 1e-9)
    return area, cx, cy, angle, float(np.sqrt(major / minor))


def _smooth(values: np.ndarray, known: np.ndarray, sigma: float, wanted: np.ndarray) -> np.ndarray:
    """Values at the `wanted` frames from those at the `known` ones: a local-linear regression with Gaussian
    weights (sigma in frames), so noise goes and a steady motion stays exactly (also at the clip's ends and
    across gaps, where a plain average would lag behind); sigma 0 keeps known values and interpolates the rest."""
    t = np.arange(len(values), dtype=np.float64)
    ks = np.flatnonzero(known)
    out = values.copy()
    if len(ks) == 0:
        return out
    if sigma <= 0 or len(ks) < 3:
        out[wanted & ~known] = np.interp(t[wanted & ~known], t[ks], values[ks])
        return out
    y = values[ks]
    for i in np.flatnonzero(wanted):
        if i < ks[0] or i > ks[-1]:                 # beyond the known frames: hold, never extrapolate
            out[i] = values[ks[0]] if i < ks[0] else values[ks[-1]]
            continue
        d = t[ks] - i
        w = np.exp(-0.5 * (d / sigma) ** 2)
        if w.sum() < 1e-6:                          # far from every known frame: the nearest one's trend
            w = np.exp(-np.abs(d) / sigma)
        s0, s1, s2 = w.sum(), (w * d).sum(), (w * d * d).sum()
        b0, b1 = (w * y).sum(), (w * d * y).sum()
        det = s0 * s2 - s1 * s1
        out[i] = (s2 * b0 - s1 * b1) / det if det > 1e-9 * s0 * s0 else b0 / s0
    return out


class _Registration:
    """Sub-pixel similarity fit of the reference frame's mask onto another frame's mask.

    Gauss-Newton (with a little damping) on Gaussian-blurred masks, coarse to fine, over points of the reference
    mask's blurred boundary; points that land outside the frame (or near its border, where the blur sees the
    border) do not count, so an object the frame cuts is still fitted by what is in view; Huber weights keep a
    partly hidden edge from pulling the fit."""

    def __init__(self, reference_mask: np.ndarray, size: float, max_points: int = 6000):
        self.shape = reference_mask.shape
        self.levels = [max(1.0, size / 10.0), max(1.0, size / 40.0)]
        if self.levels[0] <= self.levels[1] * 1.5:
            self.levels = self.levels[1:]
        self.templates = []
        rng = np.random.default_rng(0)
        h, w = self.shape
        for sigma in self.levels:
            blurred = _blur(reference_mask, sigma)
            margin = 2 * sigma + 1
            ys, xs = np.nonzero((blurred > 0.02) & (blurred < 0.98))
            keep = (xs >= margin) & (xs <= w - 1 - margin) & (ys >= margin) & (ys <= h - 1 - margin)
            xs, ys = xs[keep], ys[keep]
            if len(xs) > max_points:
                pick = rng.choice(len(xs), max_points, replace=False)
                xs, ys = xs[pick], ys[pick]
            self.templates.append((sigma, np.stack([xs, ys], 1).astype(np.float64), blurred[ys, xs].astype(np.float64)))

    def fit(self, mask: np.ndarray, start: np.ndarray, centre, rotate: bool = True) -> np.ndarray:
        """The similarity (3x3, reference -> this frame) that best lays the reference mask onto `mask`
        (rotate=False: its turn stays the start's)."""
        h, w = mask.shape
        cx, cy = centre
        a, b = start[0, 0], start[1, 0]
        tx, ty = start[:2] @ np.array([cx, cy, 1.0])      # where the centre goes
        for sigma, points, target in self.templates:
            if len(points) < 12:
                continue
            image = _blur(mask, sigma)
            gy, gx = np.gradient(image)
            u, v = points[:, 0] - cx, points[:, 1] - cy
            margin = 2 * sigma + 1
            for _ in range(40):
                x, y = a * u - b * v + tx, b * u + a * v + ty
                inside = (x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin)
                if inside.sum() < max(12, 0.2 * len(points)):
                    break
                xi, yi = x[inside].astype(np.float32), y[inside].astype(np.float32)
                sample = [cv2.remap(img, xi[:, None], yi[:, None], cv2.INTER_LINEAR)[:, 0].astype(np.float64)
                          for img in (image, gx, gy)]
                residual = sample[0] - target[inside]
                ix, iy, ui, vi = sample[1], sample[2], u[inside], v[inside]
                jac = np.stack([ix * ui + iy * vi, -ix * vi + iy * ui, ix, iy], 1)
                weight = np.minimum(1.0, 0.25 / np.maximum(np.abs(residual), 1e-9))       # Huber
                if not rotate:              # scale along the start's direction only
                    direction = np.array([a, b]) / max(np.hypot(a, b), 1e-12)
                    jac = np.stack([jac[:, 0] * direction[0] + jac[:, 1] * direction[1], jac[:, 2], jac[:, 3]], 1)
                normal = jac.T @ (jac * weight[:, None])
                normal += np.diag(np.diag(normal)) * 1e-4 + np.eye(len(normal)) * 1e-9
                step = -np.linalg.solve(normal, jac.T @ (weight * residual))
                if not rotate:
                    step = np.array([step[0] * direction[0], step[0] * direction[1], step[1], step[2]])
                a, b, tx, ty = a + step[0], b + step[1], tx + step[2], ty + step[3]
                if abs(step[2]) + abs(step[3]) < 1e-3 and np.hypot(step[0], step[1]) < 1e-5:
                    break
        scale = float(np.hypot(a, b))
        if not np.isfinite(scale) or scale <= 0:
            return start
        return similarity(scale, float(np.arctan2(b, a)), tx, ty) @ similarity(1.0, 0.0, -cx, -cy)


MIN_COVERAGE = 0.85     # share of the expected silhouette a frame's mask must show for its own pose to count


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _iou_inside(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def _warp_mask(mask: np.ndarray, pose: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), pose[:2], (w, h), flags=cv2.INTER_LINEAR) > 0


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


RIGID_IOU = 0.8         # median fit (IoU of the carried reference mask) below this: the object deforms
HIDDEN_RUN = 3          # at most this many frames in a row are taken for partly hidden; then the masks lead


def estimate_poses(masks: np.ndarray, reference: int, *, smooth: float = 1.5,
                   min_elongation: float = 1.15, refine: bool = True) -> np.ndarray:
    """(T, 3, 3): pose[t] maps the reference frame's pixel coordinates onto frame t's, for the object's masks.

    Each visible frame starts from the moments of its mask (position from the centroid, scale from the square
    root of the area, rotation from the principal axis when the mask is elongated enough for the axis to mean
    something, unwrapped through time), or from the neighbouring frame's pose where the frame's border cuts the
    mask; with refine=True the reference mask is then registered onto the frame's mask (`_Registration`:
    sub-pixel, the part of the object in view only). An object whose masks do not keep their shape (median fit
    below RIGID_IOU: a walking person, a running dog) is followed without rotation: position and scale only.
    A frame whose mask is well smaller than the last trusted pose predicts is partly hidden (for at most
    HIDDEN_RUN frames in a row): its pose comes from the frames around it. The pose's parameters (log scale,
    angle, where the reference centroid goes) are smoothed over time by a local-linear fit (sigma in frames),
    which leaves a steady motion as it is; frames where the object is not visible get the nearest visible
    frame's pose."""
    count = len(masks)
    visible = masks.reshape(count, -1).any(axis=1)
    if not visible[reference]:
        raise UserError(f"The object is not visible on its reference frame {reference}.")
    ref_area = float(masks[reference].sum())
    register = _Registration(masks[reference], np.sqrt(ref_area)) if refine else None
    params, trusted, quality = _fit_frames(masks, reference, visible, register, True, min_elongation)
    if register is not None and np.median(quality[visible]) < RIGID_IOU:
        params, trusted, quality = _fit_frames(masks, reference, visible, register, False, min_elongation)
    for i in range(4):
        params[:, i] = _smooth(params[:, i], trusted, smooth, visible)
    _, ref_x, ref_y, _, _ = _moments(masks[reference])
    nearest = np.flatnonzero(visible)
    poses = np.empty((count, 3, 3))
    for t in range(count):
        k = t if visible[t] else nearest[np.argmin(np.abs(nearest - t))]
        poses[t] = _pose(params[k], ref_x, ref_y)
    return poses


def _fit_frames(masks, reference, visible, register, rotate: bool, min_elongation: float):
    """Per frame, outward from the reference: (params (T, 4), trusted (T,) bool, fit IoU (T,))."""
    count = len(masks)
    params = np.zeros((count, 4))                    # log scale, angle, centre x, centre y
    trusted = visible.copy()
    quality = np.ones(count)
    ref_area, ref_x, ref_y, ref_angle, ref_long = _moments(masks[reference])
    ref_centre = np.array([ref_x, ref_y, 1.0])
    params[reference] = (0.0, 0.0, ref_x, ref_y)
    for order in (range(reference + 1, count), range(reference - 1, -1, -1)):
        last, hidden_run = params[reference].copy(), 0
        motion = np.zeros(4)                         # per frame, from the last two trusted frames
        last_t = reference
        for t in order:
            if not visible[t]:
                continue
            area, cx, cy, angle, elongation = _moments(masks[t])
            turn = last[1]
            if rotate and min(elongation, ref_long) >= min_elongation:
                turn = angle - ref_angle
                turn = last[1] + (turn - last[1] + np.pi / 2) % np.pi - np.pi / 2     # nearest to the last turn
            guess = np.array([0.5 * np.log(area / ref_area), turn, cx, cy])
            if _touches_border(masks[t]):
                guess = last.copy()                  # a cut mask's moments are biased: start from the last pose
            start = _pose(guess, ref_x, ref_y)
            quality[t] = _iou_inside(_warp_mask(masks[reference], start), masks[t])
            if register is not None:
                fitted = register.fit(masks[t], start, (ref_x, ref_y), rotate=rotate)
                fit_quality = _iou_inside(_warp_mask(masks[reference], fitted), masks[t])
                if fit_quality >= quality[t]:
                    centre = fitted @ ref_centre
                    guess = np.array([np.log(np.hypot(fitted[0, 0], fitted[1, 0])),
                                      np.arctan2(fitted[1, 0], fitted[0, 0]), centre[0], centre[1]])
                    guess[1] = last[1] + (guess[1] - last[1] + np.pi) % (2 * np.pi) - np.pi
                    quality[t] = fit_quality
            params[t] = guess
            # a mask well smaller than the reference carried where the trusted poses lead (inside the frame) is
            # partly hidden: its pose comes from the frames around it, and the next frame does not start from it
            predicted = last + motion * abs(t - last_t)
            expected = _warp_mask(masks[reference], _pose(predicted, ref_x, ref_y)).sum()
            hidden_run = hidden_run + 1 if masks[t].sum() < MIN_COVERAGE * expected else 0
            trusted[t] = hidden_run == 0 or hidden_run > HIDDEN_RUN
            if trusted[t]:
                motion = (guess - last) / max(abs(t - last_t), 1)
                last, last_t, hidden_run = guess, t, 0
    return params, trusted, quality


def _pose(params, ref_x: float, ref_y: float) -> np.ndarray:
    """The similarity that turns and scales about the reference centroid and moves it to (params[2], params[3])."""
    log_scale, turn, cx, cy = params
    return similarity(float(np.exp(log_scale)), float(turn), float(cx), float(cy)) @ \
        similarity(1.0, 0.0, -ref_x, -ref_y)


def boxes_of(masks: np.ndarray) -> np.ndarray:
    """(T, 4) float32 (x0, y0, x1, y1) per frame, NaN where the mask is empty."""
    out = np.full((len(masks), 4), np.nan, np.float32)
    for t, m in enumerate(masks):
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if len(rows):
            out[t] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out


def fully_visible_frame(masks: np.ndarray) -> int:
    """The first frame where the object is wholly in view: not cut by the frame's border, and not suddenly
    smaller than on the frames around it (partly hidden behind something); the largest one if none is."""
    areas = masks.reshape(len(masks), -1).sum(axis=1).astype(np.float64)
    if not areas.any():
        raise UserError("The object's mask is empty on every frame.")
    on_border = masks[:, 0, :].any(axis=1) | masks[:, -1, :].any(axis=1) | masks[:, :, 0].any(axis=1) | \
        masks[:, :, -1].any(axis=1)
    around = np.array([np.median(areas[max(0, t - 2):t + 3]) for t in range(len(areas))])
    good = (areas > 0) & (areas >= 0.85 * around) & ~on_border
    return int(np.flatnonzero(good)[0]) if good.any() else int(np.argmax(areas))


@dataclass
class TrackedObject:
    """One object through one clip."""
    object_id: int
    masks: np.ndarray                     # (T, H, W) bool
    reference: int = -1                   # the frame the poses start from; -1 = the first fully visible one
    name: str = ""
    poses: np.ndarray | None = None       # (T, 3, 3) reference -> frame t; estimated from the masks if None

    def __post_init__(self):
        self.masks = np.asarray(self.masks, bool)
        if self.masks.ndim != 3:
            raise ValueError(f"masks must be (T, H, W), got {self.masks.shape}")
        if not self.masks.any():
            raise UserError(f"Object {self.object_id}'s mask is empty on every frame.")
        if self.reference < 0:
            self.reference = fully_visible_frame(self.masks)
        if self.poses is None:
            self.poses = estimate_poses(self.masks, self.reference)
        self.name = self.name or f"object {self.object_id}"

    @property
    def visible(self) -> np.ndarray:
        """(T,) bool: frames where some of the object is in view."""
        return self.masks.reshape(len(self.masks), -1).any(axis=1)

    @property
    def boxes(self) -> np.ndarray:
        return boxes_of(self.masks)


@dataclass
class Tracks:
    """A clip's tracked objects by id, tied to the clip by `clip_hash`."""
    clip_hash: str
    shape: tuple[int, int, int]           # (T, H, W) of the clip
    objects: dict[int, TrackedObject] = field(default_factory=dict)

    @classmethod
    def from_masks(cls, frames: np.ndarray, masks: dict[int, np.ndarray]) -> Tracks:
        tracks = cls(clip_hash(frames), tuple(frames.shape[:3]))
        for object_id in sorted(masks):
            tracks.add(object_id, masks[object_id])
        return tracks

    def add(self, object_id: int, masks: np.ndarray, name: str = "") -> TrackedObject:
        """Add (or replace) an object; pixels another object already holds are not given to it."""
        masks = np.asarray(masks, bool)
        if masks.shape != self.shape:
            raise UserError(f"Object {object_id}'s masks are {masks.shape}, the clip is {self.shape}.")
        self.objects.pop(object_id, None)
        for other in self.objects.values():
            masks = masks & ~other.masks
        obj = TrackedObject(object_id, masks, name=name)
        self.objects[object_id] = obj
        return obj

    def belongs_to(self, frames: np.ndarray) -> bool:
        return tuple(frames.shape[:3]) == self.shape and clip_hash(frames) == self.clip_hash

    @property
    def ids(self) -> list[int]:
        return sorted(self.objects)

    def save(self, path) -> Path:
        """One compressed .npz: bit-packed masks, poses, references and names of every object."""
        path = Path(path)
        ids = self.ids
        if not ids:
            raise UserError("There are no objects to save.")
        objs = [self.objects[i] for i in ids]
        np.savez_compressed(path, clip_hash=np.array(self.clip_hash), shape=np.array(self.shape), ids=np.array(ids),
                            packed=np.stack([np.packbits(o.masks, axis=None) for o in objs]),
                            poses=np.stack([o.poses for o in objs]), references=np.array([o.reference for o in objs]),
                            names=np.array([o.name for o in objs]))
        return path

    @classmethod
    def load(cls, path) -> Tracks:
        with np.load(path) as data:
            shape = tuple(int(s) for s in data["shape"])
            count = int(np.prod(shape))
            tracks = cls(str(data["clip_hash"]), shape)
            for i, packed, poses, reference, name in zip(data["ids"], data["packed"], data["poses"],
                                                         data["references"], data["names"]):
                masks = np.unpackbits(packed, count=count).astype(bool).reshape(shape)
                tracks.objects[int(i)] = TrackedObject(int(i), masks, int(reference), str(name), poses)
        return tracks
