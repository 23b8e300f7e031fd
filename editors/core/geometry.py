"""Geometry shared by every editor: boxes, 3x3 pixel transforms, the outpaint canvas.

Conventions (one for the whole hub):
- a **Box** is (x0, y0, x1, y1) in pixels, inclusive-exclusive: columns x0..x1-1, rows y0..y1-1;
- a 3x3 **transform** maps pixel coordinates (x, y, 1) of one image onto another; pixel centres sit at integer
  coordinates, so resizing by f maps x to (x + 0.5) * f - 0.5 (what cv2.resize does);
- `cv2.warpPerspective(src, M, size)` with M mapping src -> destination.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import UserError


@dataclass(frozen=True)
class Box:
    """(x0, y0, x1, y1) pixels, inclusive-exclusive."""
    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def of_mask(cls, mask: np.ndarray, pad: int = 0) -> Box | None:
        """Bounding box of an (H, W) mask grown by `pad` pixels and cut to the image; None when empty."""
        rows = np.flatnonzero(mask.any(axis=1))
        if not len(rows):
            return None
        cols = np.flatnonzero(mask.any(axis=0))
        h, w = mask.shape
        return cls(max(0, int(cols[0]) - pad), max(0, int(rows[0]) - pad),
                   min(w, int(cols[-1]) + 1 + pad), min(h, int(rows[-1]) + 1 + pad))

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns): `image[box.slices]` is the box's crop."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def grown(self, pad: int, width: int, height: int) -> Box:
        """Grown by `pad` on every side, cut to a width x height image."""
        return Box(max(0, self.x0 - pad), max(0, self.y0 - pad), min(width, self.x1 + pad),
                   min(height, self.y1 + pad))

    def to_frame(self) -> np.ndarray:
        """Transform from image coordinates to this box's crop coordinates."""
        return translation(-self.x0, -self.y0)

    def iou(self, other: Box) -> float:
        inter = max(0, min(self.x1, other.x1) - max(self.x0, other.x0)) * \
            max(0, min(self.y1, other.y1) - max(self.y0, other.y0))
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union > 0 else 0.0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x1, self.y1


def translation(dx: float, dy: float) -> np.ndarray:
    """3x3: (x, y) -> (x + dx, y + dy)."""
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def scaling(fx: float, fy: float | None = None) -> np.ndarray:
    """3x3 from an image to the same image resized by (fx, fy), pixel centres aligned as cv2.resize does."""
    fy = fx if fy is None else fy
    return np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]], np.float64)


def resize_between(src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """3x3 from an image of src_size (w, h) to the same image resized to dst_size (w, h)."""
    return scaling(dst_size[0] / src_size[0], dst_size[1] / src_size[1])


def similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    """3x3: scale, turn by `angle` radians (clockwise on screen: y points down), then shift by (tx, ty)."""
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty], [0, 0, 1]], np.float64)


def conjugate(transform: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The same transform expressed in coordinates changed by `change` (e.g. a resize)."""
    return change @ transform @ np.linalg.inv(change)


def rectangle(width: int, height: int) -> np.ndarray:
    """The corners of a width x height image as a (1, 4, 2) float32 polygon (cv2.perspectiveTransform)."""
    return np.float32([[0, 0], [width, 0], [width, height], [0, height]])[None]


# ------------------------------------------------------------------------------------------ outpaint canvas
MAX_GROWTH = 8          # a canvas side may be at most this many times the source side
MAX_SIDE = 8192         # and at most this many pixels

_ANCHORS_H = {"center": "center", "centre": "center", "left": "left", "right": "right"}
_ANCHORS_V = {"center": "center", "centre": "center", "top": "top", "bottom": "bottom"}


@dataclass(frozen=True)
class Canvas:
    """The new frame size and where the original's top-left corner sits in it."""
    width: int
    height: int
    left: int
    top: int

    def right(self, src_w: int) -> int:
        return self.width - self.left - src_w

    def bottom(self, src_h: int) -> int:
        return self.height - self.top - src_h

    def source(self, src_h: int, src_w: int) -> tuple[slice, slice]:
        """(rows, columns) of the canvas where the original frame sits."""
        return slice(self.top, self.top + src_h), slice(self.left, self.left + src_w)

    def check(self, src_w: int, src_h: int) -> None:
        if self.left < 0 or self.top < 0 or self.right(src_w) < 0 or self.bottom(src_h) < 0:
            raise UserError(f"A {src_w}x{src_h} clip does not fit in a {self.width}x{self.height} canvas at "
                            f"left={self.left}, top={self.top}; outpainting only grows the frame.")




def _as_count(name: str, value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise UserError(f"{name} must be a whole number of pixels, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a whole number of pixels, not {value!r}.") from None
    if not np.isfinite(number) or number != int(number):
        raise UserError(f"{name} must be a whole number of pixels, not {value!r}.")
    return int(number)


def parse_ratio(ratio) -> float:
    """'9:16', '9/16', '9x16', 0.5625 or (9, 16) -> width / height."""
    if isinstance(ratio, (tuple, list)) and len(ratio) == 2:
        a, b = ratio
    elif isinstance(ratio, (int, float)) and not isinstance(ratio, bool):
        a, b = ratio, 1
    elif isinstance(ratio, str):
        parts = re.split(r"\s*[:/x×]\s*", ratio.strip().lower())
        if len(parts) == 1:
            parts.append("1")
        if len(parts) != 2:
            raise UserError(f"Aspect ratio {ratio!r} is not of the form W:H (for example 9:16).")
        a, b = parts
    else:
        raise UserError(f"Aspect ratio {ratio!r} is not of the form W:H (for example 9:16).")
    try:
        value = float(a) / float(b)
    except (TypeError, ValueError, ZeroDivisionError):
        raise UserError(f"Aspect ratio {ratio!r} is not of the form W:H (for example 9:16).") from None
    if not np.isfinite(value) or value <= 0:
        raise UserError(f"Aspect ratio {ratio!r} must be positive (for example 9:16).")
    if not 0.01 <= value <= 100:
        raise UserError(f"Aspect ratio {ratio!r} is {value:.3g}: give one between 1:100 and 100:1.")
    return value


def _parse_anchor(anchor) -> tuple[str, str]:
    """'center', 'left', 'right', 'top', 'bottom' or a pair such as 'top-left' -> (horizontal, vertical)."""
    text = str(anchor or "center").strip().lower().replace("_", "-").replace(" ", "-")
    horizontal, vertical = "center", "center"
    parts = [p for p in text.split("-") if p]
    if not parts or len(parts) > 2:
        raise UserError(f"Anchor {anchor!r} is not one of center, left, right, top, bottom (or e.g. top-left).")
    seen_h = seen_v = False
    for part in parts:
        if part in ("center", "centre"):
            continue
        if part in _ANCHORS_H and not seen_h:
            horizontal, seen_h = _ANCHORS_H[part], True
        elif part in _ANCHORS_V and not seen_v:
            vertical, seen_v = _ANCHORS_V[part], True
        else:
            raise UserError(f"Anchor {anchor!r} is not one of center, left, right, top, bottom "
                            "(or e.g. top-left).")
    return horizontal, vertical


def _place(size: int, src: int, where: str) -> int:
    if where in ("left", "top"):
        return 0
    if where in ("right", "bottom"):
        return size - src
    return (size - src) // 2


def plan_canvas(src_w: int, src_h: int, *, width=None, height=None, ratio=None,
                left=0, right=0, top=0, bottom=0, anchor="center") -> Canvas:
    """Where a src_w x src_h clip sits in its outpainted frame. Exactly one way to say the size:

    - width and/or height: the new frame size (a missing one keeps the source's);
    - ratio "9:16" (also "1:1", "4:5", 1.777, (21, 9)): keep the source and grow ONE side to reach it;
    - left/right/top/bottom: pixels added on each side (the anchor does not apply).

    anchor places the original for the first two ways: "center" (left = (W - w) // 2, top = (H - h) // 2),
    "left", "right", "top", "bottom", or a pair such as "top-left". Bad or contradictory input -> UserError.
    """
    src_w, src_h = _as_count("source width", src_w), _as_count("source height", src_h)
    if src_w <= 0 or src_h <= 0:
        raise UserError(f"The clip's size {src_w}x{src_h} is empty.")
    sides = {name: _as_count(name, value) for name, value in
             (("left", left), ("right", right), ("top", top), ("bottom", bottom))}
    for name, value in sides.items():
        if value < 0:
            raise UserError(f"{name}={value}: pixels added on a side cannot be negative.")
    by_size = width is not None or height is not None
    by_ratio = ratio is not None and str(ratio).strip() != ""
    by_sides = any(sides.values())
    ways = [name for name, used in (("width/height", by_size), ("ratio", by_ratio),
                                    ("left/right/top/bottom", by_sides)) if used]
    if len(ways) > 1:
        raise UserError(f"Give the new size one way only, not both {ways[0]} and {ways[1]}.")
    if not ways:
        raise UserError("Say how big the new frame is: width and height, an aspect ratio such as 9:16, "
                        "or pixels to add on the left/right/top/bottom.")
    horizontal, vertical = _parse_anchor(anchor)

    if by_sides:
        if (horizontal, vertical) != ("center", "center"):
            raise UserError("The anchor only applies to width/height or a ratio; with pixels per side the "
                            "sides already say where the original sits.")
        canvas = Canvas(src_w + sides["left"] + sides["right"], src_h + sides["top"] + sides["bottom"],
                        sides["left"], sides["top"])
    else:
        if by_size:
            new_w = src_w if width is None else _as_count("width", width)
            new_h = src_h if height is None else _as_count("height", height)
            if new_w < src_w or new_h < src_h:
                raise UserError(f"The new frame {new_w}x{new_h} is smaller than the clip ({src_w}x{src_h}) "
                                "on some side: outpainting only grows the frame (crop first to shrink it).")
        else:
            target = parse_ratio(ratio)
            if src_w / src_h < target:
                new_w, new_h = max(src_w, int(round(src_h * target))), src_h
            else:
                new_w, new_h = src_w, max(src_h, int(round(src_w / target)))
        canvas = Canvas(new_w, new_h, _place(new_w, src_w, horizontal), _place(new_h, src_h, vertical))
    if canvas.width > MAX_GROWTH * src_w or canvas.height > MAX_GROWTH * src_h or \
            max(canvas.width, canvas.height) > MAX_SIDE:
        raise UserError(f"A {canvas.width}x{canvas.height} frame is too big for a {src_w}x{src_h} clip: each "
                        f"side may grow at most {MAX_GROWTH}x and to at most {MAX_SIDE} pixels.")
    return canvas


def place_on_canvas(frames: np.ndarray, canvas: Canvas, fill: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """(canvas frames with the originals placed and `fill` elsewhere, new-area mask (T, H, W) bool)."""
    count, h, w = frames.shape[:3]
    rows, cols = canvas.source(h, w)
    placed = np.full((count, canvas.height, canvas.width, 3), fill, np.uint8)
    placed[:, rows, cols] = frames
    new_area = np.ones((count, canvas.height, canvas.width), bool)
    new_area[:, rows, cols] = False
    return placed, new_area
