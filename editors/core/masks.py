"""Binary masks and overlays: the one mask convention of the hub.

masks:   (T, H, W) bool, True = the object (a single mask image applies to every frame).
The trimask and the layer codes built from masks live in core/trimask.py.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

from .errors import UserError

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FULL_FRAME = 0.99                   # a mask over more than this share of every frame marks "everything"
MAX_ZIP_ENTRIES = 20_000            # zips of mask images: entries, bytes per image and in all once unpacked
MAX_ZIP_MEMBER_BYTES = 64 << 20
MAX_ZIP_BYTES = 1 << 30


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
    """A mask video, a directory of mask images, one image (all frames), a zip of images or an array ->
    (T, H, W) bool for ONE object (a zip holding several objects' folders is refused: see load_mask_objects).

    Resized (nearest) to the clip when it has the clip's proportions (exact_size=True: only the clip's size);
    a frame count that is neither 1 nor the clip's, other proportions, a mask empty on every frame or covering
    every whole frame are UserErrors naming the file.
    """
    objects = load_mask_objects(source, num_frames, height, width, exact_size)
    if len(objects) > 1:
        raise UserError(f"Mask {_name(source)!r} holds {len(objects)} objects (one folder each): give one object "
                        "here, or upload the zip where each file is one object.")
    return objects[0]


def load_mask_objects(source, num_frames: int, height: int, width: int,
                      exact_size: bool = False) -> list[np.ndarray]:
    """Like load_masks, but a zip with one folder of images per object (the Segment tab's masks.zip) gives one
    (T, H, W) bool per folder, in folder name order; any other source gives one object."""
    name = _name(source)
    if isinstance(source, np.ndarray):
        masks = source if source.ndim == 3 else source[None]
        stacks = [np.stack([binarize(m) for m in masks]) if masks.dtype != bool else masks]
    else:
        path = Path(source)
        if not path.exists():
            raise UserError(f"Mask {name!r} does not exist.")
        if path.is_file() and path.suffix.lower() == ".zip":
            stacks = [_stack(images, f"{name}: {folder or '(top level)'}") for folder, images in
                      sorted(read_mask_zip(path).items())]
        elif path.is_dir() or path.suffix.lower() in MASK_SUFFIXES:
            from .clip import list_frame_files

            files = list_frame_files(path) if path.is_dir() else [path]
            if not files:
                raise UserError(f"Mask folder {name!r} holds no PNG/JPG images.")
            stacks = [_stack([read_mask_image(f) for f in files], name)]
        else:
            from .clip import read_clip

            stacks = [np.stack([binarize(f) for f in read_clip(path).frames])]
    return [_fit(masks, name, num_frames, height, width, exact_size) for masks in stacks]


def _name(source) -> str:
    return "the mask" if isinstance(source, np.ndarray) else Path(source).name


def _stack(images: list[np.ndarray], name: str) -> np.ndarray:
    sizes = {m.shape for m in images}
    if len(sizes) > 1:
        raise UserError(f"Mask {name!r}: its images differ in size ({', '.join(f'{w}x{h}' for h, w in sorted(sizes))});"
                        " give one size for all frames.")
    return np.stack(images)


def _fit(masks: np.ndarray, name: str, num_frames: int, height: int, width: int,
         exact_size: bool = False) -> np.ndarray:
    """The clip's frame count and size, or a UserError that says what does not fit."""
    mask_h, mask_w = masks.shape[1:]
    if exact_size and (mask_h, mask_w) != (height, width):
        raise UserError(f"Mask {name!r} is {mask_w}x{mask_h} but the clip is {width}x{height}: "
                        "give masks of the clip's size.")
    if abs(mask_w * height - width * mask_h) > 0.02 * width * mask_h:     # 2 %: rounding of a rescaled mask
        raise UserError(f"Mask {name!r} is {mask_w}x{mask_h} but the clip is {width}x{height}: a mask must have "
                        "the clip's size (or the same proportions).")
    if len(masks) == 1 and num_frames != 1:
        masks = np.repeat(masks, num_frames, axis=0)
    if len(masks) != num_frames:
        raise UserError(
            f"Mask {name!r} has {len(masks)} frames but the clip has {num_frames}: give one mask image for all "
            "frames, or exactly one mask per frame.")
    masks = _resize_masks(masks, height, width)
    if not masks.any():
        raise UserError(f"Mask {name!r} is empty (black on every frame): white marks the object.")
    if (masks.mean(axis=(1, 2)) > FULL_FRAME).all():
        raise UserError(f"Mask {name!r} covers the whole frame on every frame: white must mark only the object "
                        "(black = the rest). Is the mask inverted?")
    return masks


def read_mask_image(path: Path) -> np.ndarray:
    """One mask image file -> (H, W) bool (binarize; palette PNGs are label images: any non-zero label)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return decode_mask_image(handle, path.name)
    except OSError as exc:
        raise UserError(f"Mask {path.name!r} cannot be read ({exc.strerror or type(exc).__name__}).") from None


def decode_mask_image(data, name: str) -> np.ndarray:
    """An image file (path or file object) -> (H, W) bool; larger than EDITHUB_MAX_SIDE is refused before decoding."""
    from PIL import Image, ImageOps

    from .media.limits import ClipLimits, check_side

    try:
        with Image.open(data) as image:
            check_side(name, *image.size, ClipLimits.from_env())
            image = ImageOps.exif_transpose(image)
            if image.mode == "P" and "transparency" not in image.info:
                return np.asarray(image) > 0
            lossless = Path(name).suffix.lower() in (".png", ".bmp", ".webp", ".tif", ".tiff")
            if image.mode in ("1", "L", "I", "I;16", "I;16B", "F"):
                return binarize(np.asarray(image), labels=lossless)
            return binarize(np.asarray(image.convert("RGBA")))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(f"Mask {name!r} is not a readable image ({type(exc).__name__}).") from None


def read_mask_zip(path: Path) -> dict[str, list[np.ndarray]]:
    """A zip of mask images -> {folder inside the zip: [(H, W) bool per image, in name order]}.

    Read in memory (nothing is unpacked to disk); a member or a total larger than MAX_ZIP_MEMBER_BYTES /
    MAX_ZIP_BYTES unpacked, or more images than EDITHUB_MAX_FRAMES, is refused (zip bombs)."""
    import io

    from .clip import ClipLimits
    from .media.images import natural_key

    name = path.name
    max_frames = ClipLimits.from_env().max_frames
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_ENTRIES:
                raise UserError(f"Mask {name!r} holds {len(members)} entries, more than {MAX_ZIP_ENTRIES}.")
            images = [m for m in members if not m.is_dir() and Path(m.filename).suffix.lower() in MASK_SUFFIXES
                      and not any(part.startswith((".", "__MACOSX")) for part in Path(m.filename).parts)]
            if not images:
                raise UserError(f"Mask {name!r} holds no PNG/JPG images.")
            folders: dict[str, list[zipfile.ZipInfo]] = {}
            for member in images:
                folders.setdefault(str(Path(member.filename).parent).strip("."), []).append(member)
            if max(len(group) for group in folders.values()) > max_frames:
                raise UserError(f"Mask {name!r} holds more than {max_frames} images for one object "
                                "(or set EDITHUB_MAX_FRAMES to raise the limit).")
            unpacked, objects = 0, {}
            for folder, group in folders.items():
                objects[folder] = []
                for member in sorted(group, key=lambda m: natural_key(Path(m.filename))):
                    with archive.open(member) as handle:
                        data = handle.read(MAX_ZIP_MEMBER_BYTES + 1)
                    unpacked += len(data)
                    cap = MAX_ZIP_MEMBER_BYTES if len(data) > MAX_ZIP_MEMBER_BYTES else \
                        MAX_ZIP_BYTES if unpacked > MAX_ZIP_BYTES else None
                    if cap:
                        raise UserError(f"Mask {name!r}: {member.filename} unpacks to more than {cap >> 20} MB "
                                        "(in all); a zip of mask images is far smaller (is it a zip bomb?).")
                    objects[folder].append(decode_mask_image(io.BytesIO(data), f"{name}: {member.filename}"))
            return objects
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError, NotImplementedError, OSError,
            zlib.error) as exc:
        raise UserError(f"Mask {name!r} is not a readable zip file ({exc}).") from None


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
