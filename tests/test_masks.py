"""Masks and trimasks: loading in every form, resizing, clear errors, morphology, trimask, overlay."""
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from editors.core import masks as M
from editors.core import trimask as tm
from editors.core.clip import Clip, write_clip
from editors.core.errors import UserError


def square(count=3, height=20, width=30):
    masks = np.zeros((count, height, width), bool)
    for t in range(count):
        masks[t, 5:12, 5 + t:15 + t] = True
    return masks


def test_one_image_applies_to_all_frames_and_is_resized(tmp_path):
    image = np.zeros((10, 15), np.uint8)
    image[2:6, 3:9] = 255
    Image.fromarray(image).save(tmp_path / "m.png")
    masks = M.load_masks(tmp_path / "m.png", 4, 20, 30)
    assert masks.shape == (4, 20, 30) and masks.dtype == bool
    assert masks[0, 4:12, 6:18].all() and not masks[0, :4].any()
    assert (masks == masks[0]).all()


def test_folder_of_palette_pngs_and_rgba_alpha(tmp_path):
    for t in range(3):
        labels = np.zeros((20, 30), np.uint8)
        labels[5:10, 5:10] = 2                               # DAVIS-style palette id
        image = Image.fromarray(labels, mode="L").convert("P")
        image.save(tmp_path / f"{t:05d}.png")
    masks = M.load_masks(tmp_path, 3, 20, 30)
    assert masks[:, 5:10, 5:10].all() and masks.sum() == 3 * 25
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[2:4, 2:4, 3] = 255
    assert M.binarize(rgba).sum() == 4                      # alpha, not colour, marks the object


def test_mask_video(tmp_path):
    masks = square(count=5)
    frames = np.repeat(masks[..., None].astype(np.uint8) * 255, 3, axis=3)
    write_clip(Clip(frames, Fraction(24)), tmp_path / "m.mp4")
    loaded = M.load_masks(tmp_path / "m.mp4", 5, 20, 30)
    assert (loaded != masks).mean() < 0.02


def test_mismatched_count_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="3 frames but the clip has 5"):
        M.load_masks(square(count=3), 5, 20, 30)
    with pytest.raises(UserError, match="does not exist"):
        M.load_masks(tmp_path / "nope.png", 5, 20, 30)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no PNG"):
        M.load_masks(tmp_path / "empty", 5, 20, 30)


def test_morphology_and_vivid_augmentations():
    masks = square()
    assert M.dilate(masks, 2).sum() > masks.sum() and M.erode(masks, 1).sum() < masks.sum()
    assert (M.dilate(masks, 2) >= masks).all() and (M.erode(masks, 1) <= masks).all()
    soft = M.feather(masks, 4)
    assert soft.dtype == np.float32 and soft[masks].min() == 1.0 and 0 < soft[M.dilate(masks, 2) & ~masks].min() < 1
    lshape = np.zeros((1, 20, 20), bool)
    lshape[0, 2:5, 2:15] = lshape[0, 2:15, 2:5] = True
    assert lshape.sum() < M.hull(lshape).sum() < M.box(lshape).sum() == 13 * 13
    assert M.bounding_box(lshape[0]) == (2, 2, 15, 15) and M.bounding_box(np.zeros((4, 4), bool)) is None


def test_trimask_remove_keep_and_band():
    remove = square()
    keep = np.zeros_like(remove)
    keep[:, 14:18, 0:4] = True
    tri = tm.make(remove, keep, band=3)
    assert (tri[remove] == tm.REMOVE).all()
    assert (tri[keep] == tm.KEEP).all()
    band = M.dilate(remove, 3) & ~remove & ~keep
    assert (tri[band] == tm.MAY_CHANGE).all()
    assert (tri[~M.dilate(remove, 3)] == tm.KEEP).all()
    plain = tm.make(remove, effects=False)
    assert set(np.unique(plain)) == {tm.REMOVE, tm.KEEP}
    assert np.array_equal(tm.from_u8(tm.to_u8(tri)), tri)
    vace = tm.to_vace(tri, soft=0.5)
    assert (vace[remove] == 1).all() and (vace[band] == 0.5).all() and (vace[keep] == 0).all()


def test_band_is_sized_to_the_object():
    small, large = np.zeros((1, 200, 200), bool), np.zeros((1, 200, 200), bool)
    small[0, 10:20, 10:20] = True
    large[0, 10:110, 10:110] = True
    assert M.object_band_radius(small) < M.object_band_radius(large)


def test_overlay_tints_only_the_object():
    frames = np.full((3, 20, 30, 3), 100, np.uint8)
    masks = square()
    shown = M.overlay(frames, masks)
    assert np.array_equal(shown[~masks], frames[~masks]) and not np.array_equal(shown[masks], frames[masks])


def test_one_binarisation_for_every_mask_form(tmp_path):
    """A soft grey mask means the same as a file in L mode, RGB, RGBA or an array: half the range, not > 0."""
    soft = np.zeros((20, 30), np.uint8)
    soft[5:15, 5:15] = 200                 # the object
    soft[:, 20:] = 40                      # a faint haze that is not the object
    expected = soft > 127
    Image.fromarray(soft, "L").save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([soft] * 3)).save(tmp_path / "rgb.png")
    Image.fromarray(soft, "L").save(tmp_path / "grey.jpg", quality=100)
    for name in ("grey.png", "rgb.png", "grey.jpg"):
        assert np.array_equal(M.load_masks(tmp_path / name, 1, 20, 30)[0], expected), name
    assert np.array_equal(M.load_masks(soft, 1, 20, 30)[0], expected)
    labels = np.zeros((20, 30), np.uint8)
    labels[2:6, 2:6] = 3                   # a DAVIS-style label image: any non-zero label is the object
    Image.fromarray(labels, "L").save(tmp_path / "labels.png")
    assert M.load_masks(tmp_path / "labels.png", 1, 20, 30)[0].sum() == 16
