"""Binary masks and overlays: the one mask convention of the hub.

masks:   (T, H, W) bool, True = the object (a single mask image applies to every frame).
The trimask and the layer codes built from masks live in core/trimask.py.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import UserError

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    if masks.shape[1:] == (height, width):
        return masks
    out = np.empty((len(masks), height, width), dtype=bool)
    for i, m in enumerate(masks):
        out[i] = cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return out


def binarize(image: np.ndarray) -> np.ndarray:
    """Any mask image (grey, RGB, RGBA, 0/1 or 0/255) -> (H, W) bool; alpha wins when present."""
    image = np.asarray(image)
    if image.ndim == 3:
        if image.shape[2] == 4 and image[..., 3].min() < 255:
            image = image[..., 3]
        else:
            image = image[..., :3].max(axis=2)
    if image.dtype == bool:
        return image
    threshold = 0.5 if image.dtype.kind == "f" and image.max() <= 1.0 else 127
    return image > threshold


def load_masks(source, num_frames: int, height: int, width: int) -> np.ndarray:
    """A mask video, a directory of mask images, one image (all frames) or an array -> (T, H, W) bool.

    Resized (nearest) to the clip; a count that is neither 1 nor the clip's is an error.
    """
    if isinstance(source, np.ndarray):
        masks = source if source.ndim == 3 else source[None]
        masks = np.stack([binarize(m) for m in masks]) if masks.dtype != bool else masks
    else:
        path = Path(source)
        if not path.exists():
            raise UserError(f"Mask {path.name!r} does not exist.")
        if path.is_dir() or path.suffix.lower() in MASK_SUFFIXES:
            from .clip import list_frame_files, read_image

            files = list_frame_files(path) if path.is_dir() else [path]
            if not files:
                raise UserError(f"Mask folder {path.name!r} holds no PNG/JPG images.")
            masks = np.stack([binarize(read_image(f)) if f.suffix.lower() != ".png" else _read_png_mask(f)
                              for f in files])
        else:
            from .clip import read_clip

            masks = np.stack([binarize(f) for f in read_clip(path).frames])
    if len(masks) == 1 and num_frames != 1:
        masks = np.repeat(masks, num_frames, axis=0)
    if len(masks) != num_frames:
        raise UserError(
            f"The mask has {len(masks)} frames but the clip has {num_frames}: give one mask image for all "
            "frames, or exactly one mask per frame.")
    return _resize_masks(masks, height, width)


def _read_png_mask(path: Path) -> np.ndarray:
    # PNG masks are often palette/label images (DAVIS): any non-zero label is the object.
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.mode in ("P", "L", "I", "I;16", "1"):
                return np.asarray(image) > 0
            return binarize(np.asarray(image.convert("RGBA")))
    except OSError as exc:
        raise UserError(f"Mask {path.name!r} is not a readable image ({exc}).") from None


def _per_frame(masks: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(m) for m in masks]) if masks.ndim == 3 else fn(masks)


def disk(radius: int) -> np.ndarray:
    """Elliptic structuring element of the given radius (2r+1 pixels across)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def dilate(masks: np.ndarray, radius: int) -> np.ndarray:
    """Grow masks by `radius` pixels (a disk); works on (H, W) or (T, H, W)."""
    if radius <= 0:
        return masks.copy()
    kernel = disk(radius)
    return _per_frame(masks, lambda m: cv2.dilate(m.astype(np.uint8), kernel) > 0)


def erode(masks: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return masks.copy()
    kernel = disk(radius)
    return _per_frame(masks, lambda m: cv2.erode(m.astype(np.uint8), kernel, borderValue=0) > 0)


def feather(masks: np.ndarray, radius: int) -> np.ndarray:
    """Soft float32 masks in [0, 1]: 1 inside, falling to 0 over `radius` pixels outside."""
    if radius <= 0:
        return masks.astype(np.float32)

    def one(m):
        outside = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 5)
        return np.clip(1.0 - outside / radius, 0.0, 1.0).astype(np.float32)

    return _per_frame(masks, one)


def hull(masks: np.ndarray) -> np.ndarray:
    """Convex hull of each frame's mask (VIVID's hull augmentation)."""
    def one(m):
        points = cv2.findNonZero(m.astype(np.uint8))
        out = np.zeros(m.shape, np.uint8)
        if points is not None:
            cv2.fillConvexPoly(out, cv2.convexHull(points), 1)
        return out > 0

    return _per_frame(masks, one)


def box(masks: np.ndarray) -> np.ndarray:
    """Bounding box of each frame's mask (VIVID's box augmentation)."""
    def one(m):
        out = np.zeros(m.shape, bool)
        ys, xs = np.nonzero(m)
        if len(ys):
            out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
        return out

    return _per_frame(masks, one)


def augment(masks: np.ndarray, grow: int = 0, shape: str = "mask") -> np.ndarray:
    """VIVID's mask augmentations: grow (+) / shrink (−) by pixels, then the mask, its convex hull or its box."""
    masks = dilate(masks, grow) if grow > 0 else erode(masks, -grow) if grow < 0 else masks
    return {"mask": lambda m: m, "hull": hull, "box": box}[shape](masks)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive-exclusive of one (H, W) mask, None when empty."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def object_band_radius(masks: np.ndarray, fraction: float = 0.5, minimum: int = 8, maximum: int = 96) -> int:
    """A may-change band sized to the object: `fraction` of its typical (median) box side."""
    sides = []
    for m in masks:
        b = bounding_box(m)
        if b:
            sides.append(max(b[2] - b[0], b[3] - b[1]))
    if not sides:
        return minimum
    return int(np.clip(round(float(np.median(sides)) * fraction), minimum, maximum))


OBJECT_COLOURS = np.array([(255, 64, 64), (64, 160, 255), (64, 220, 90), (255, 200, 40),
                           (200, 80, 255), (0, 220, 220), (255, 128, 0), (160, 160, 160)], np.float32)


def overlay(frames: np.ndarray, masks: np.ndarray, colour=None, alpha: float = 0.5,
            outline: bool = True) -> np.ndarray:
    """Tint the masked pixels (and outline them) for previews; frames and masks (H,W)/(T,H,W)."""
    colour = OBJECT_COLOURS[0] if colour is None else np.asarray(colour, np.float32)
    single = frames.ndim == 3
    frames = frames[None] if single else frames
    masks = masks[None] if masks.ndim == 2 else masks
    out = frames.copy()
    for t in range(len(frames)):
        m = masks[t]
        if not m.any():
            continue
        tinted = frames[t][m].astype(np.float32) * (1 - alpha) + colour * alpha
        out[t][m] = tinted.astype(np.uint8)
        if outline:
            edge = m & ~erode(m, 1)
            out[t][edge] = colour.astype(np.uint8)
    return out[0] if single else out


def overlay_objects(frames: np.ndarray, objects: dict[int, np.ndarray], alpha: float = 0.5) -> np.ndarray:
    """Overlay several objects, each in its own colour (by id)."""
    out = frames
    for obj_id, masks in sorted(objects.items()):
        out = overlay(out, masks, OBJECT_COLOURS[(obj_id - 1) % len(OBJECT_COLOURS)], alpha)
    return out


def save_objects(path, objects: dict[int, np.ndarray]) -> Path:
    """Per-object masks {id: (T,H,W) bool} -> one compressed .npz (bit-packed), for sessions and hand-offs."""
    path = Path(path)
    ids = sorted(objects)
    if not ids:
        raise UserError("There are no object masks to save.")
    shape = objects[ids[0]].shape
    packed = np.stack([np.packbits(objects[i].astype(bool), axis=None) for i in ids])
    np.savez_compressed(path, ids=np.array(ids), shape=np.array(shape), packed=packed)
    return path


def load_objects(path) -> dict[int, np.ndarray]:
    with np.load(path) as data:
        shape = tuple(int(s) for s in data["shape"])
        count = int(np.prod(shape))
        return {int(i): np.unpackbits(p, count=count).astype(bool).reshape(shape)
                for i, p in zip(data["ids"], data["packed"])}
