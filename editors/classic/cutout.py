"""The new object out of its photo (replace editor): RGBA as given, a mask given with it, or an automatic cut-out
for a plain or simple background.

The automatic cut-out models the background from the photo's border (a smooth colour field: a quadratic in x and
y per channel, fitted robustly, so a plain colour, a gradient or a vignette all fit), then takes as background
every pixel close to that model, also where the object encloses it (between the arms, inside a wheel); specks
are not trusted either way (a highlight on the object stays object, a stray dark pixel on the backdrop stays
background), and pieces much smaller than the largest are dropped.
It refuses (UserError, saying to give a mask) when the border is not plain or nothing sensible separates.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..core import masks as M
from ..core.errors import UserError
from ..core.masks import binarize

NEEDS_MASK = "give a mask of the object (--target-mask, white = object) or click it in the photo"
MAX_NOISE = 10.0          # robust spread (grey levels) of the border around its model, beyond: not plain
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def target_rgba(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(h, w, 4) uint8 RGBA of the new object from an RGBA image (its alpha is the object), an image and a mask
    (white = object), or an RGB photo on a plain / simple background (automatic cut-out)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.dtype != np.uint8:
        raise UserError("The target image must be 8-bit RGB or RGBA.")
    rgb = np.ascontiguousarray(image[..., :3])
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape[:2] != rgb.shape[:2]:
            raise UserError(f"The target mask is {mask.shape[1]}x{mask.shape[0]} but the target image is "
                            f"{rgb.shape[1]}x{rgb.shape[0]}: they must be the same size.")
        alpha = binarize(mask).astype(np.uint8) * 255
        if not alpha.any():
            raise UserError("The target mask is empty: paint the object white.")
    elif image.shape[2] == 4 and image[..., 3].min() < 255:
        alpha = image[..., 3]
        if not (alpha >= 128).any():
            raise UserError("The target image has no object: its alpha channel is empty.")
    else:
        alpha = plain_background_cutout(rgb).astype(np.uint8) * 255
    return np.dstack([rgb, alpha])


def _border(h: int, w: int, width: int) -> np.ndarray:
    ring = np.zeros((h, w), bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return ring


def _design(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> np.ndarray:
    u, v = xs / max(w - 1, 1) - 0.5, ys / max(h - 1, 1) - 0.5
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], 1)


def background_model(rgb: np.ndarray, border_width: int | None = None) -> tuple[np.ndarray, float, float]:
    """(background colour field (h, w, 3) float32, its robust noise in grey levels, share of the border it
    explains) from the photo's border: a quadratic per channel, refitted without the border pixels that are far
    from it (the object may touch the border)."""
    h, w = rgb.shape[:2]
    width = border_width or max(2, round(0.01 * min(h, w)))
    ys, xs = np.nonzero(_border(h, w, width))
    values = rgb[ys, xs].astype(np.float64)
    design = _design(xs.astype(np.float64), ys.astype(np.float64), w, h)
    inliers = np.ones(len(xs), bool)
    for _ in range(4):
        coef, *_ = np.linalg.lstsq(design[inliers], values[inliers], rcond=None)
        residual = np.abs(values - design @ coef).max(axis=1)
        spread = 1.4826 * np.median(residual[inliers]) + 1.0
        inliers = residual <= max(3.0 * spread, 6.0)
    gy, gx = np.mgrid[:h, :w]
    field = (_design(gx.ravel().astype(np.float64), gy.ravel().astype(np.float64), w, h) @ coef)
    return field.reshape(h, w, 3).astype(np.float32), float(1.4826 * np.median(residual[inliers])), \
        float(inliers.mean())


def plain_background_cutout(rgb: np.ndarray) -> np.ndarray:
    """(h, w) bool: the object of a photo taken on a plain or simple background (see the module docstring)."""
    h, w = rgb.shape[:2]
    field, noise, explained = background_model(rgb)
    if noise > MAX_NOISE or explained < 0.6:
        raise UserError(f"Could not cut the object out of the photo: its background is not plain; {NEEDS_MASK}.")
    distance = np.abs(rgb.astype(np.float32) - field).max(axis=2)
    # Compression (JPEG) rings a light halo around the object: backdrop pixels a few pixels off the object
    # that are off the backdrop's colour, more than the border far from it is. Then the tolerance is wider and
    # the object's outermost pixels still close to the backdrop's colour go to the backdrop (two pixels deep at
    # most). A lossless photo has no halo: a tight tolerance keeps the object's light edges.
    rough = distance > 8.0
    band = M.dilate(rough, 3) & ~M.dilate(rough, 1)
    border = _border(h, w, max(2, round(0.01 * min(h, w))))
    lossy = band.any() and float(distance[band].mean()) > 2.0 * float(distance[border & ~rough].mean()) + 0.8
    tolerance = max(5.0, 4.0 * noise + 4.0) if lossy else max(3.0, 4.0 * noise + 3.0)
    background = distance <= tolerance
    if lossy:
        for _ in range(2):
            edge = ~background & (cv2.dilate(background.astype(np.uint8), _CROSS) > 0)
            background |= edge & (distance <= max(20.0, 2.5 * tolerance))
    # Background-coloured pixels the object encloses are background too (between the arms, inside a wheel),
    # unless they are specks (a highlight on the object): those stay object, as do specks of object colour.
    speck = max(9, round(2e-4 * h * w))
    background = _without_specks(background, speck, keep_border=True)
    obj = _without_specks(~background, speck, connectivity=8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(obj.astype(np.uint8), connectivity=8)
    if count > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= max(16, 0.02 * areas.max())) + 1
        obj = np.isin(labels, keep)
    share = obj.mean()
    if share < 0.002 or share > 0.98:
        looks = "all object" if share > 0.5 else "background only"
        raise UserError(f"Could not find an object in the photo (it looks like {looks}); {NEEDS_MASK}.")
    return obj


def _without_specks(mask: np.ndarray, speck: int, keep_border: bool = False, connectivity: int = 4) -> np.ndarray:
    """`mask` without its connected pieces smaller than `speck` pixels (those touching the image's border are
    kept with keep_border=True)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=connectivity)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < speck) + 1
    if keep_border and len(small):
        x0, y0 = stats[small, cv2.CC_STAT_LEFT], stats[small, cv2.CC_STAT_TOP]
        x1, y1 = x0 + stats[small, cv2.CC_STAT_WIDTH], y0 + stats[small, cv2.CC_STAT_HEIGHT]
        h, w = mask.shape
        small = small[(x0 > 0) & (y0 > 0) & (x1 < w) & (y1 < h)]
    return mask & ~np.isin(labels, small)
