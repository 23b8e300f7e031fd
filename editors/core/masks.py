"""Binary masks and overlays: the one mask convention of the hub.

masks:   (T, H, W) bool, True = the object (a single mask image applies to every frame).
The trimask and the layer codes built from masks live in core/trimask.py.
"""
from __future__ import annotations

import zipfile
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


def binarize(image: np.ndarray, labels: bool = False) -> np.ndarray:
    """Any mask image -> (H, W) bool, one rule for every form (file, video frame, drawing, array):
    alpha wins when it is not all opaque; colour takes its brightest channel; 0/1 masks and (labels=True, for
    lossless single-channel files) label images with values up to 31 (DAVIS palettes) count every non-zero
    value; anything else is thresholded at half its range (a soft grey mask is not 100 % object)."""
    image = np.asarray(image)
    single = image.ndim == 2
    if image.ndim == 3:
        if image.shape[2] == 4 and image[..., 3].min() < 255:
            image = image[..., 3]
        else:
            image = image[..., :3].max(axis=2)
    if image.dtype == bool:
        return image
    if image.dtype.kind == "f":
        image = np.nan_to_num(image, nan=0.0)
        return image > (0.5 if image.max(initial=0) <= 1.0 else 127.5)
    peak = int(image.max(initial=0))
    if peak <= 1 or (labels and single and peak <= 31):
        return image > 0
    return image > (32767 if peak > 255 else 127)


def load_masks(source, num_frames: int, height: int, width: int, exact_size: bool = False) -> np.ndarray:
    """A mask video, a directory of mask images, one image (all frames) or an array -> (T, H, W) bool.

    Resized (nearest) to the clip, or with exact_size=True a size other than the clip's is an error; a count
    that is neither 1 nor the clip's is an error.
    """
    if isinstance(source, np.ndarray):
        masks = source if source.ndim == 3 else source[None]
        masks = np.stack([binarize(m) for m in masks]) if masks.dtype != bool else masks
    else:
        path = Path(source)
        if not path.exists():
            raise UserError(f"Mask {path.name!r} does not exist.")
        if path.is_dir() or path.suffix.lower() in MASK_SUFFIXES:
            from .clip import list_frame_files

            files = list_frame_files(path) if path.is_dir() else [path]
            if not files:
                raise UserError(f"Mask folder {path.name!r} holds no PNG/JPG images.")
            masks = np.stack([read_mask_image(f) for f in files])
        else:
            from .clip import read_clip

            masks = np.stack([binarize(f) for f in read_clip(path).frames])
    if len(masks) == 1 and num_frames != 1:
        masks = np.repeat(masks, num_frames, axis=0)
    if len(masks) != num_frames:
        raise UserError(
            f"The mask has {len(masks)} frames but the clip has {num_frames}: give one mask image for all "
            "frames, or exactly one mask per frame.")
    if exact_size and masks.shape[1:] != (height, width):
        name = f"Mask {Path(source).name!r}" if not isinstance(source, np.ndarray) else "The mask"
        raise UserError(f"{name} is {masks.shape[2]}x{masks.shape[1]} but the clip is {width}x{height}: "
                        "give masks of the clip's size.")
    return _resize_masks(masks, height, width)


def read_mask_image(path: Path) -> np.ndarray:
    """One mask image file -> (H, W) bool (binarize; palette PNGs are label images: any non-zero label)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode == "P" and "transparency" not in image.info:
                return np.asarray(image) > 0
            lossless = path.suffix.lower() in (".png", ".bmp", ".webp", ".tif", ".tiff")
            if image.mode in ("1", "L", "I", "I;16", "I;16B", "F"):
                return binarize(np.asarray(image), labels=lossless)
            return binarize(np.asarray(image.convert("RGBA")))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"Mask {path.name!r} is not a readable image ({type(exc).__name__}).") from None


# ------------------------------------------------------------------------------------------ mask files out
def save_masks(objects: dict[int, np.ndarray], clip, folder: Path) -> list[str]:
    """Downloads: a PNG zip (object_N/00000.png, 0/255) and a mask video per object."""
    from .clip import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    archive_path = folder / "masks.zip"
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for object_id, masks in sorted(objects.items()):
            for t, m in enumerate(masks):
                archive.writestr(f"object_{object_id}/{t:05d}.png", mask_png(m))
    files.append(str(archive_path))
    for object_id, masks in sorted(objects.items()):
        files.append(str(write_clip(mask_clip(masks, clip), folder / f"mask_object_{object_id}.mp4")))
    return files


def mask_png(mask: np.ndarray) -> bytes:
    """One (H, W) bool mask as a 0/255 greyscale PNG."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    return buffer.getvalue()


def write_masks(masks: np.ndarray, clip, target: str, frame_names: list[str] | None = None) -> Path:
    """A mask video, or (target ending in /) a folder of 0/255 greyscale PNGs named like the input frames."""
    from .clip import write_clip

    if not target.endswith("/"):
        return write_clip(mask_clip(masks, clip), target)
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    names = frame_names or [f"{t:05d}" for t in range(len(masks))]
    for name, mask in zip(names, masks):
        (folder / f"{name}.png").write_bytes(mask_png(mask))
    return folder


def mask_clip(masks: np.ndarray, clip):
    """A 0/255 mask video with the clip's fps (no audio)."""
    from .clip import Clip

    return Clip(np.repeat(masks[..., None].astype(np.uint8) * 255, 3, axis=3), clip.fps, name=clip.name)



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
