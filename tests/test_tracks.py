"""Tracked objects: poses that follow the object, one file, tied to the clip, objects never overlapping."""
import cv2
import numpy as np
import pytest

from editors.core.errors import UserError
from editors.core.geometry import similarity
from editors.core.tracks import Tracks, clip_hash, estimate_poses, fully_visible_frame

T, H, W = 12, 120, 160


def moving_bar():
    """A bar that moves, grows and turns by known similarity transforms about its centre (80, 50)."""
    base = np.zeros((H, W), np.uint8)
    cv2.rectangle(base, (60, 40), (100, 60), 1, -1)
    centre = similarity(1, 0, 80, 50)
    truths = [centre @ similarity(1 + 0.03 * t, 0.05 * t, 3 * t, t) @ np.linalg.inv(centre) for t in range(T)]
    masks = np.stack([cv2.warpPerspective(base, m, (W, H), flags=cv2.INTER_NEAREST) > 0 for m in truths])
    return masks, truths


def test_poses_follow_position_scale_and_rotation():
    masks, truths = moving_bar()
    poses = estimate_poses(masks, 0, smooth=0)
    corner = np.array([100.0, 60.0, 1.0])
    for t in range(T):
        assert np.linalg.norm(poses[t] @ corner - truths[t] @ corner) < 1.0


def test_poses_from_a_later_reference_frame_and_hidden_frames():
    masks, truths = moving_bar()
    masks[3] = False                                   # hidden: the pose of the nearest visible frame
    poses = estimate_poses(masks, 6, smooth=0)
    assert np.allclose(poses[6][:2, :2], np.eye(2), atol=1e-6)
    point = truths[6] @ np.array([100.0, 60.0, 1.0])
    assert np.linalg.norm(poses[9] @ point - truths[9] @ np.array([100.0, 60.0, 1.0])) < 1.0
    assert np.allclose(poses[3], poses[2]) or np.allclose(poses[3], poses[4])


def test_reference_is_the_first_fully_visible_frame():
    masks, _ = moving_bar()
    masks[0, :, :70] = False                           # cut
    masks[1] = np.roll(masks[1], -90, axis=1)           # touches the border
    assert fully_visible_frame(masks) == 2
    with pytest.raises(UserError):
        fully_visible_frame(np.zeros_like(masks))


def test_tracks_round_trip_belong_to_their_clip_and_never_overlap(tmp_path):
    masks, _ = moving_bar()
    frames = np.random.default_rng(0).integers(0, 255, (T, H, W, 3), dtype=np.uint8)
    tracks = Tracks.from_masks(frames, {1: masks, 2: np.roll(masks, 8, axis=2)})
    assert not (tracks.objects[1].masks & tracks.objects[2].masks).any()
    loaded = Tracks.load(tracks.save(tmp_path / "tracks.npz"))
    assert loaded.ids == [1, 2] and loaded.belongs_to(frames)
    for i in (1, 2):
        assert np.array_equal(loaded.objects[i].masks, tracks.objects[i].masks)
        assert np.allclose(loaded.objects[i].poses, tracks.objects[i].poses)
    other = frames.copy()
    other[5, 10, 10] ^= 255                            # same size and length, other content
    assert clip_hash(other) != clip_hash(frames) and not loaded.belongs_to(other)
    boxes = loaded.objects[1].boxes
    assert boxes.shape == (T, 4) and np.isfinite(boxes).all()


def rigid_blob(count, shift, turn=0.0, size=(H, W)):
    """An irregular blob moved by a known similarity each frame (rasterised from a soft mask: sub-pixel)."""
    base = np.zeros(size, np.float32)
    cv2.ellipse(base, (50, 60), (22, 12), 20, 0, 360, 1.0, -1)
    cv2.circle(base, (66, 52), 9, 1.0, -1)
    centre = similarity(1, 0, 55, 58)
    truths = [centre @ similarity(1, turn * t, shift[0] * t, shift[1] * t) @ np.linalg.inv(centre)
              for t in range(count)]
    masks = np.stack([cv2.warpAffine(base, m[:2], size[::-1], flags=cv2.INTER_LINEAR) >= 0.5 for m in truths])
    return masks, truths


def worst_error(poses, truths, masks, reference=0):
    ys, xs = np.nonzero(masks[reference])
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(float)
    return max(np.linalg.norm((poses[t] @ points - truths[t] @ np.linalg.inv(truths[reference]) @ points)[:2],
                              axis=0).max() for t in range(len(masks)) if masks[t].any())


def test_poses_are_sub_pixel_while_the_object_leaves_the_frame():
    masks, truths = rigid_blob(16, (7.0, 0.6), 0.015)    # the last frames cut it at the right border
    assert masks[-1, :, -1].any()
    assert worst_error(estimate_poses(masks, 0), truths, masks) < 0.4


def test_partly_hidden_frames_take_their_pose_from_their_neighbours():
    masks, truths = rigid_blob(14, (2.5, 0.3), 0.01)
    hidden = masks.copy()
    hidden[6:9, :, 60:] = False                          # something in front of the object's right side
    assert worst_error(estimate_poses(hidden, 0), truths, masks) < 0.5


def test_steady_motion_is_not_pulled_back_at_the_clips_ends():
    masks, truths = rigid_blob(12, (3.0, 1.0))
    poses = estimate_poses(masks, 0, smooth=3.0)         # a wide smoothing: a plain average would lag ~2 px
    assert worst_error(poses, truths, masks) < 0.3
