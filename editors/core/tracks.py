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


def _smooth(values: np.ndarray, visible: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing over visible frames (a weighted average, so gaps and ends are not pulled to 0)."""
    if sigma <= 0 or visible.sum() < 3:
        return values
    t = np.arange(len(values))
    out = values.copy()
    for i in np.flatnonzero(visible):
        w = np.exp(-0.5 * ((t - i) / sigma) ** 2) * visible
        out[i] = (w * np.where(visible, values, 0)).sum() / w.sum()
    return out


def estimate_poses(masks: np.ndarray, reference: int, *, smooth: float = 1.0,
                   min_elongation: float = 1.15) -> np.ndarray:
    """(T, 3, 3): pose[t] maps the reference frame's pixel coordinates onto frame t's, for the object's masks.

    Position from the mask's centroid, scale from the square root of its area, rotation from its principal axis
    (only when the mask is elongated enough for the axis to mean something; unwrapped through time so a 180°
    flip of the axis is not taken for a turn), each smoothed over time (sigma in frames). Frames where the
    object is not visible get the pose of the nearest visible frame."""
    count = len(masks)
    visible = masks.reshape(count, -1).any(axis=1)
    if not visible[reference]:
        raise UserError(f"The object is not visible on its reference frame {reference}.")
    params = np.zeros((count, 4))                    # log scale, angle, cx, cy
    ref_area, ref_x, ref_y, ref_angle, ref_long = _moments(masks[reference])
    previous = 0.0
    for t in list(range(reference, count)) + list(range(reference - 1, -1, -1)):
        if t == reference - 1:
            previous = 0.0
        if not visible[t]:
            continue
        area, cx, cy, angle, elongation = _moments(masks[t])
        turn = previous
        if min(elongation, ref_long) >= min_elongation:
            turn = angle - ref_angle
            turn = previous + (turn - previous + np.pi / 2) % np.pi - np.pi / 2     # nearest to the last turn
        previous = turn
        params[t] = (0.5 * np.log(area / ref_area), turn, cx, cy)
    for i in range(4):
        params[:, i] = _smooth(params[:, i], visible, smooth)
    nearest = np.flatnonzero(visible)
    poses = np.empty((count, 3, 3))
    for t in range(count):
        k = t if visible[t] else nearest[np.argmin(np.abs(nearest - t))]
        log_scale, turn, cx, cy = params[k]
        scale = float(np.exp(log_scale))
        # about the reference centroid: move it to the origin, scale and turn, move it to frame t's centroid
        poses[t] = similarity(scale, turn, cx, cy) @ similarity(1.0, 0.0, -ref_x, -ref_y)
    return poses


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
