"""RGBA layers per removed object over a clean background (Generative Omnimatte's omnimattes), both engines.

    layers = split_object_layers(frames, background, remove_masks, layer_mask)   # one (T,H,W,4) per object
    composite(np.stack(layers), background) == frames (to rounding)

layer_mask uses the codes of core.trimask: LAYER_OBJECT pixels are opaque (colour = input), LAYER_EFFECT pixels
get the smallest alpha that explains input vs background (a shadow becomes a dark, semi-transparent layer).
"""
from __future__ import annotations

import numpy as np

from . import masks as M
from .trimask import LAYER_NONE


def split_object_layers(frames: np.ndarray, background: np.ndarray, remove: list[np.ndarray],
                        layer_mask: np.ndarray) -> list[np.ndarray]:
    """One RGBA layer per removed object from the engine's layer mask. Each changed pixel goes to one layer:
    the first object whose surroundings hold it, the last object takes what is left, so the layers over the
    background give back the input."""
    out = []
    taken = np.zeros(layer_mask.shape, bool)
    for index, masks in enumerate(remove):
        mine = ~taken
        if index < len(remove) - 1:
            mine &= M.dilate(masks, M.object_band_radius(masks) * 2)
        hint = np.where(mine, layer_mask, LAYER_NONE).astype(np.uint8)
        taken |= hint > 0
        out.append(object_layers(frames, background, hint))
    return out


def object_layers(frames: np.ndarray, background: np.ndarray, alpha_masks: np.ndarray) -> np.ndarray:
    """RGBA layer(s) whose composite over `background` reproduces `frames`.

    alpha_masks: (T, H, W) for one layer or (N, T, H, W) for N layers; bool, uint8 (0..255) or float (0..1).
    Full value (True / 255 / 1.0) marks the object: opaque, colour = input. Intermediate values mark its
    effect (shadow, reflection): the smallest alpha that explains input vs background is solved per pixel
    (a shadow becomes a dark, semi-transparent layer). 0: transparent.
    Returns (T, H, W, 4) or (N, T, H, W, 4) uint8.
    """
    alpha_masks = np.asarray(alpha_masks)
    if alpha_masks.ndim == 4:
        return np.stack([object_layers(frames, background, a) for a in alpha_masks])
    count = len(frames)
    layers = np.zeros(frames.shape[:3] + (4,), np.uint8)
    for t in range(count):
        hint = alpha_masks[t]
        if hint.dtype == bool:
            opaque, soft = hint, np.zeros(hint.shape, bool)
        elif hint.dtype == np.uint8:
            opaque, soft = hint >= 255, (hint > 0) & (hint < 255)
        else:
            opaque, soft = hint >= 0.999, (hint > 0) & (hint < 0.999)
        lay = layers[t]
        lay[opaque, :3] = frames[t][opaque]
        lay[opaque, 3] = 255
        if soft.any():
            img = frames[t][soft].astype(np.float32)
            bg = background[t][soft].astype(np.float32)
            diff = img - bg
            # per channel: alpha needed so that colour = bg + diff / alpha stays within [0, 255]
            need = np.where(diff < 0, -diff / np.maximum(bg, 1e-3), diff / np.maximum(255.0 - bg, 1e-3))
            a = np.clip(need.max(axis=1), 0.0, 1.0)
            a8 = np.ceil(a * 255.0 - 1e-3).clip(0, 255)
            af = a8 / 255.0
            colour = np.where(af[:, None] > 0, bg + diff / np.maximum(af, 1e-6)[:, None], 0.0)
            lay[soft, :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
            lay[soft, 3] = a8.astype(np.uint8)
    return layers


def composite(layers: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Layer(s) over the background (the inverse of object_layers), uint8; one frame at a time."""
    layers = np.asarray(layers)
    if layers.ndim == 5:
        out = background
        for layer in layers:
            out = composite(layer, out)
        return out
    out = np.empty(background.shape, np.uint8)
    for t in range(len(layers)):
        a = layers[t, ..., 3:4].astype(np.float32) / 255.0
        res = layers[t, ..., :3].astype(np.float32) * a + background[t].astype(np.float32) * (1.0 - a)
        out[t] = np.clip(res + 0.5, 0, 255).astype(np.uint8)
    return out
