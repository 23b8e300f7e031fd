"""Where the new object goes: the replace editor's default placement, shared by its engines.

The rule (the one a user can predict, documented in the README):
- reference frame r: the first frame where the source object is fully visible (`tracks.fully_visible_frame`),
  or the one given (`--frame K`);
- boxes are the masks' bounding boxes (`Box.of_mask`, inclusive-exclusive); the target's is its alpha's
  (alpha >= 128);
- scale s = source box height / target box height (fit="height"), widths (fit="width"), or the square root of
  the ratio of their areas in pixels (fit="area": the same silhouette area); times `scale`;
- the target's box bottom centre ((x0 + x1) / 2, y1) lands on the source's bottom centre on frame r;
- on frame t the placed target moves by the source's pose (`tracks.estimate_poses`: the similarity carrying
  frame r onto frame t, from the masks, sub-pixel, smoothed): transform_t = pose_t @ transform_r;
- it is hidden where the source object is hidden (`occluded`): where the source, carried by its pose, should be
  but its mask is not.

The target is drawn with premultiplied alpha (its photo's background never bleeds into its edge), pre-shrunk
with area averaging when it is drawn smaller than its photo, and its edge feathered lightly.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import masks as M
from .errors import UserError
from .geometry import Box, resize_between, scaling, translation
from .tracks import estimate_poses, fully_visible_frame

FITS = ("height", "width", "area")
MAX_OVERSIZE = 2.0        # a placed target may be at most this many frame sides wide / high
FEATHER = 0.35            # sigma (pixels) of the edge's feather; 0.6 cost 1-4 dB on the new object in bench/replace.py


def crop_to_object(rgba: np.ndarray) -> np.ndarray:
    """The RGBA image cut to its alpha's bounding box (alpha >= 128); an empty alpha is a UserError."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"target must be (h, w, 4) uint8 RGBA, got {rgba.dtype} {rgba.shape}")
    box = Box.of_mask(rgba[..., 3] >= 128)
    if box is None:
        raise UserError("The target image has no object: its alpha channel is empty (give an RGBA PNG whose "
                        "alpha marks the object, or a photo of the object).")
    return np.ascontiguousarray(rgba[box.slices])


def reference_transform(target: np.ndarray, source_mask: np.ndarray, *, fit: str = "height",
                        scale: float = 1.0) -> np.ndarray:
    """3x3 from the target crop's pixels to the reference frame's, by the default rule."""
    if fit not in FITS:
        raise UserError(f"Unknown fit {fit!r}: choose one of {', '.join(FITS)}.")
    if not np.isfinite(scale) or scale <= 0:
        raise UserError(f"The scale must be a positive number, got {scale!r}.")
    silhouette = target[..., 3] >= 128
    theirs, ours = Box.of_mask(source_mask), Box.of_mask(silhouette)
    if theirs is None:
        raise UserError("The source object is not visible on the reference frame.")
    factor = {"height": theirs.height / ours.height, "width": theirs.width / ours.width,
              "area": float(np.sqrt(source_mask.sum() / silhouette.sum()))}[fit] * float(scale)
    # bottom centres in edge coordinates; pixel centres sit half a pixel inside them
    src_x, src_y = (theirs.x0 + theirs.x1) / 2, theirs.y1
    tgt_x, tgt_y = (ours.x0 + ours.x1) / 2, ours.y1
    transform = translation(src_x - 0.5, src_y - 0.5) @ np.diag([factor, factor, 1.0]) @ \
        translation(0.5 - tgt_x, 0.5 - tgt_y)
    h, w = source_mask.shape
    if ours.width * factor > MAX_OVERSIZE * w or ours.height * factor > MAX_OVERSIZE * h:
        raise UserError(f"Fitted by its {fit}, the target would be {ours.width * factor:.0f}x"
                        f"{ours.height * factor:.0f} pixels in a {w}x{h} frame: far larger than the frame. "
                        "Fit it another way (--fit height / width / area) or give a smaller --scale.")
    return transform


def occluded(source: np.ndarray, poses: np.ndarray, reference: int, t: int, min_share: float = 0.04) -> np.ndarray:
    """(H, W) bool: where the source object, carried from the reference frame by its pose, should be on frame t
    but its mask is not (something in front of it). Thin slivers (pose or mask noise, a deforming outline) are
    opened away, and nothing counts unless a share `min_share` of the expected silhouette is missing."""
    h, w = source.shape[1:]
    expected = cv2.warpAffine(source[reference].astype(np.uint8), poses[t][:2], (w, h), flags=cv2.INTER_NEAREST) > 0
    missing = expected & ~source[t]
    size = float(np.sqrt(max(expected.sum(), 1)))
    radius = max(2, round(0.04 * size))
    core = M.erode(missing, radius)
    if core.sum() < min_share * expected.sum():
        return np.zeros((h, w), bool)
    return M.dilate(core, radius + 1) & M.dilate(missing, 1)


@dataclass
class Placement:
    """The new object on every frame: its RGBA crop and, per frame, the 3x3 from its pixels to the frame's."""
    target: np.ndarray             # (h, w, 4) uint8 RGBA, cut to its alpha's box
    transforms: np.ndarray         # (T, 3, 3) target pixels -> frame t pixels
    reference: int
    frame_size: tuple[int, int]    # (H, W)
    source: np.ndarray | None = None   # (T, H, W) bool: the old object, for its occlusions
    poses: np.ndarray | None = None    # (T, 3, 3) the old object's poses from the reference frame
    feather: float = FEATHER

    def __post_init__(self):
        # Drawn smaller than its photo: shrink it once with area averaging (no aliasing), premultiplied.
        factor = float(np.sqrt(abs(np.linalg.det(self.transforms[self.reference][:2, :2]))))
        premultiplied = _premultiply(self.target)
        if factor < 0.8:
            h, w = self.target.shape[:2]
            size = (max(2, round(w * factor)), max(2, round(h * factor)))
            premultiplied = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA)
            self.transforms = self.transforms @ np.linalg.inv(resize_between((w, h), size))
        self._premultiplied = premultiplied

    @property
    def count(self) -> int:
        return len(self.transforms)

    def box(self, t: int, pad: int = 2) -> Box | None:
        """The frame region the target covers on frame t (grown by `pad`), None when it is off the frame."""
        h, w = self._premultiplied.shape[:2]
        corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [w - 0.5, h - 0.5, 1], [-0.5, h - 0.5, 1]]).T
        xy = (self.transforms[t] @ corners)[:2]
        height, width = self.frame_size
        x0, y0 = int(np.floor(xy[0].min() + 0.5)) - pad, int(np.floor(xy[1].min() + 0.5)) - pad
        x1, y1 = int(np.ceil(xy[0].max() + 0.5)) + pad, int(np.ceil(xy[1].max() + 0.5)) + pad
        box = Box(max(0, x0), max(0, y0), min(width, x1), min(height, y1))
        return box if box.width > 0 and box.height > 0 else None

    def render(self, t: int, hide: bool = True) -> tuple[Box, np.ndarray, np.ndarray] | None:
        """(region, premultiplied colour (h, w, 3) float32 0..255, alpha (h, w) float32 0..1) of the target on
        frame t, hidden where the old object was (hide=True); None when it is off the frame."""
        box = self.box(t, pad=2 + int(np.ceil(3 * self.feather)))
        if box is None:
            return None
        warp = (box.to_frame() @ self.transforms[t])[:2]
        layer = cv2.warpAffine(self._premultiplied, warp, (box.width, box.height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        colour, alpha = layer[..., :3], layer[..., 3] / 255.0
        if self.feather > 0:
            # feather the edge only: the layer blurred a little (premultiplied, so the outline stays where it
            # is), taken where the alpha is not solid; the object's inside keeps its own pixels
            blurred = cv2.GaussianBlur(layer, (0, 0), self.feather)
            solid = (alpha >= 1.0 - 1e-4) & (blurred[..., 3] >= 255.0 * (1.0 - 1e-4))
            colour = np.where(solid[..., None], colour, blurred[..., :3])
            alpha = np.where(solid, alpha, blurred[..., 3] / 255.0)
        if hide and self.source is not None and self.poses is not None:
            hidden = occluded(self.source, self.poses, self.reference, t)[box.slices]
            colour, alpha = colour * ~hidden[..., None], alpha * ~hidden
        return box, colour.astype(np.float32), alpha.astype(np.float32)

    def silhouettes(self, hide: bool = True) -> np.ndarray:
        """(T, H, W) bool: where the new object is (alpha >= 0.5) on each frame, hidden parts excluded."""
        out = np.zeros((self.count,) + tuple(self.frame_size), bool)
        for t in range(self.count):
            drawn = self.render(t, hide)
            if drawn is not None:
                box, _, alpha = drawn
                out[t][box.slices] = alpha >= 0.5
        return out

    def composite(self, frames: np.ndarray, t: int, hide: bool = True) -> np.ndarray:
        """Frame t of `frames` with the target drawn over it (premultiplied 'over'), uint8."""
        out = frames[t].copy()
        drawn = self.render(t, hide)
        if drawn is not None:
            box, colour, alpha = drawn
            under = out[box.slices].astype(np.float32)
            out[box.slices] = np.clip(colour + under * (1 - alpha[..., None]) + 0.5, 0, 255).astype(np.uint8)
        return out


def _premultiply(rgba: np.ndarray) -> np.ndarray:
    out = rgba.astype(np.float32)
    out[..., :3] *= out[..., 3:4] / 255.0
    return out


def place(target_rgba: np.ndarray, source: np.ndarray, *, reference: int | None = None, fit: str = "height",
          scale: float = 1.0, poses: np.ndarray | None = None, smooth: float = 1.5) -> Placement:
    """The default placement of `target_rgba` (an RGBA photo of the new object) over the old object `source`
    ((T, H, W) bool masks): see the module docstring. `poses` may come from a tracked object (they must start
    from `reference`); otherwise they are estimated from the masks."""
    source = np.asarray(source, bool)
    if source.ndim != 3:
        raise ValueError(f"source masks must be (T, H, W), got {source.shape}")
    if not source.any():
        raise UserError("The source object's mask is empty on every frame: mark the object to replace.")
    count = len(source)
    if reference is None or reference < 0:
        reference = fully_visible_frame(source)
    if not 0 <= reference < count:
        raise UserError(f"Frame {reference} is outside the clip, which has frames 0..{count - 1}.")
    if not source[reference].any():
        raise UserError(f"The source object is not visible on frame {reference}: choose a frame where it is.")
    target = crop_to_object(target_rgba)
    at_reference = reference_transform(target, source[reference], fit=fit, scale=scale)
    if poses is None:
        poses = estimate_poses(source, reference, smooth=smooth)
    transforms = np.stack([poses[t] @ at_reference for t in range(count)])
    return Placement(target, transforms, reference, source.shape[1:], source, poses)


def preview(frame: np.ndarray, target_rgba: np.ndarray, source_mask: np.ndarray, *, fit: str = "height",
            scale: float = 1.0) -> np.ndarray:
    """The reference frame with the target placed on it and the old object's outline (before running)."""
    target = crop_to_object(target_rgba)
    transform = reference_transform(target, source_mask, fit=fit, scale=scale)
    placed = Placement(target, transform[None], 0, source_mask.shape)
    out = placed.composite(frame[None], 0, hide=False)
    edge = source_mask & ~M.erode(source_mask, 1)
    out[edge] = (255, 60, 60)
    return out


def stretched_into_box(target_rgba: np.ndarray, box: Box) -> np.ndarray:
    """3x3 that stretches the target crop into `box` (the shape-unaware baseline of the benchmark)."""
    target = crop_to_object(target_rgba)
    h, w = target.shape[:2]
    return translation(box.x0, box.y0) @ scaling(box.width / w, box.height / h)
