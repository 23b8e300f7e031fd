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
