"""Classic remove engine on a synthetic scene with a known background: a textured background panning, a
moving object and its soft cast shadow (the shadow is NOT in the mask)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editors.classic.remove import remove_objects
from editors.core import masks as M
from editors.core import trimask as tm
from editors.core.layers import composite, object_layers

H, W, T = 112, 192, 18
PAN = 3          # background pixels per frame
FOOT = 98       # ground contact row of the object


def _psnr(a, b, region=None):
    if region is not None:
        a, b = a[region], b[region]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _texture(rng, h, w):
    out = np.zeros((h, w, 3), np.float32)
    for sigma, amp in ((12, 60), (4, 35), (1.2, 18)):
        noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigma)
        out += amp * noise / (noise.std() + 1e-6)
    out[:, ::23] += 25.0  # some vertical structure (fences, tiles) for the camera motion
    return np.clip(out + np.float32([150, 130, 110]), 0, 255)


def _silhouette(x):
    """A person-like shape whose feet touch FOOT at column x."""
    m = np.zeros((H, W), np.uint8)
    cv2.ellipse(m, (int(x), FOOT - 22), (9, 22), 0, 0, 360, 1, -1)     # body and legs
    cv2.circle(m, (int(x), FOOT - 50), 7, 1, -1)                       # head
    cv2.line(m, (int(x) - 14, FOOT - 36), (int(x) + 14, FOOT - 30), 1, 3)  # arms
    return m > 0


def _shadow(mask, shear=0.8, squash=0.4, blur=1.5):
    """The silhouette flattened onto the ground from its contact row, leaning, with a soft edge."""
    a = np.array([[1.0, -shear * squash, shear * squash * FOOT], [0.0, squash, (1 - squash) * FOOT]])
    flat = cv2.warpAffine(mask.astype(np.float32), a, (W, H), flags=cv2.INTER_LINEAR)
    return np.clip(cv2.GaussianBlur(flat, (0, 0), blur), 0, 1)


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(7)
    canvas = _texture(rng, H, W + PAN * T)
    colour = _texture(rng, H, W)[..., ::-1] * 0.6 + np.float32([90, 10, 10])
    truth = np.empty((T, H, W, 3), np.uint8)
    frames = np.empty_like(truth)
    masks = np.empty((T, H, W), bool)
    shadows = np.empty((T, H, W), np.float32)
    for t in range(T):
        bg = canvas[:, PAN * t:PAN * t + W]
        truth[t] = np.clip(bg + 0.5, 0, 255).astype(np.uint8)
        mask = _silhouette(40 + 6 * t)
        shadow = _shadow(mask)
        dark = truth[t].astype(np.float32) * (1.0 - 0.5 * shadow[..., None])
        frames[t] = np.clip(np.where(mask[..., None], colour, dark) + 0.5, 0, 255).astype(np.uint8)
        masks[t], shadows[t] = mask, shadow
    trimask = tm.make(masks)
    result = remove_objects(frames, trimask)
    return dict(frames=frames, truth=truth, masks=masks, shadows=shadows, trimask=trimask, result=result)


def test_frames_shape_and_type_kept(scene):
    r = scene["result"]
    assert r.frames.shape == scene["frames"].shape and r.frames.dtype == np.uint8
    assert r.background.shape == scene["frames"].shape and r.background.dtype == np.uint8
    assert r.changed.shape == scene["masks"].shape and r.changed.dtype == bool


def test_object_and_shadow_removed(scene):
    r, truth = scene["result"], scene["truth"]
    target = scene["masks"] | (scene["shadows"] > 0.05)
    assert _psnr(r.frames, truth, target) >= 30.0
    # the shadow on its own too (this is what per-frame inpainting leaves behind)
    shadow_only = (scene["shadows"] > 0.05) & ~M.dilate(scene["masks"], 2)
    assert _psnr(r.frames, truth, shadow_only) >= 30.0
    assert _psnr(scene["frames"], truth, shadow_only) < 20.0   # it was really there


def test_everything_else_bit_identical(scene):
    r, frames = scene["result"], scene["frames"]
    outside = ~r.changed
    assert np.array_equal(r.frames[outside], frames[outside])
    # only the object and the may-change band can change; KEEP pixels never do
    assert not (r.changed & (scene["trimask"] == tm.KEEP)).any()
    # the changed region is the object plus its shadow, not the whole band
    band = scene["trimask"] == tm.MAY_CHANGE
    effect = r.changed & band & ~M.dilate(scene["masks"], 3)
    assert effect.sum() < 2.5 * ((scene["shadows"] > 0.05) & band).sum()


def test_effects_off_leaves_the_shadow(scene):
    plain = remove_objects(scene["frames"], scene["trimask"], effects=False)
    shadow_only = (scene["shadows"] > 0.2) & ~M.dilate(scene["masks"], 3)
    assert np.array_equal(plain.frames[shadow_only], scene["frames"][shadow_only])
    # the object itself is still removed, better than per-frame inpainting of the mask would
    naive = np.stack([cv2.inpaint(f, M.dilate(m, 1).astype(np.uint8), 4, cv2.INPAINT_TELEA)
                      for f, m in zip(scene["frames"], scene["masks"])])
    ours = _psnr(plain.frames, scene["truth"], scene["masks"])
    assert ours >= 20.0 and ours > _psnr(naive, scene["truth"], scene["masks"])
    assert plain.frames.shape == scene["frames"].shape


def test_layers_recompose_the_input(scene):
    r, frames = scene["result"], scene["frames"]
    layers = object_layers(frames, r.background, r.layer_mask)
    assert layers.shape == frames.shape[:3] + (4,) and layers.dtype == np.uint8
    assert _psnr(composite(layers, r.background), frames) >= 40.0
    alpha = layers[..., 3]
    assert (alpha[scene["masks"]] == 255).all()                  # the object is opaque
    core = (scene["shadows"] > 0.6) & ~M.dilate(scene["masks"], 3)
    assert np.median(alpha[core]) > 80                           # the shadow is in the layer, semi-transparent
    assert (alpha[~r.changed] == 0).all()
    two = object_layers(frames, r.background, np.stack([r.layer_mask, r.layer_mask]))
    assert two.shape == (2,) + layers.shape


def test_static_object_never_seen_is_inpainted_without_flicker():
    rng = np.random.default_rng(3)
    bg = np.clip(_texture(rng, H, W) + 0.5, 0, 255).astype(np.uint8)
    frames = np.repeat(bg[None], 6, axis=0)
    mask = np.zeros((6, H, W), bool)
    mask[:, 40:70, 80:110] = True
    frames[mask] = (200, 30, 30)
    r = remove_objects(frames, tm.make(mask))
    hole = mask[0]
    assert (r.frames[:, hole] != (200, 30, 30)).any(axis=-1).all()
    # inpainted once, carried to the other frames: identical from frame to frame
    for t in range(1, 6):
        assert np.array_equal(r.frames[t][hole], r.frames[0][hole])
    assert np.array_equal(r.frames[~r.changed], frames[~r.changed])


def test_nothing_to_remove_is_identity():
    frames = np.random.default_rng(0).integers(0, 255, (3, 32, 48, 3), dtype=np.uint8)
    trimask = np.full((3, 32, 48), tm.KEEP, np.float32)
    r = remove_objects(frames, trimask)
    assert np.array_equal(r.frames, frames) and not r.changed.any()


def test_bad_shapes_rejected():
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError):
        remove_objects(frames, np.ones((2, 8, 8), np.float32))


def test_each_grounded_object_casts_from_its_own_contact_line():
    from editors.classic.shadow import Silhouette

    mask = np.zeros((80, 160), bool)
    mask[10:60, 20:40] = True          # one person, feet at row 59
    mask[30:75, 100:120] = True        # another, feet at row 74
    mask[20:24, 46:52] = True          # a small thing held out by the first one
    parts = Silhouette(mask).parts
    assert sorted(foot for _, foot in parts) == [59.0, 74.0]
    assert sum(int((p > 0.5).sum()) for p, _ in parts) == int(mask.sum())
