"""SAM2 through the registry's real loader (tiny random weights): prompts on any frame, ids, both directions."""
import numpy as np
import pytest

from editors.core.errors import UserError
from editors.core.registry import ModelRegistry
from editors.core.prompts import Prompt
from editors.diffusion.sam2_video import segment_video
from editors.models import sam2_spec


@pytest.fixture(scope="module")
def sam2_registry(tiny_sam2):
    folder, overrides = tiny_sam2
    registry = ModelRegistry([sam2_spec("sam2.1-tiny", overrides)], device="cpu")
    registry.set_local_dir("sam2.1-tiny", folder)
    return registry


def test_prompts_on_a_middle_frame_track_every_frame_both_ways(sam2_registry):
    frames = np.random.default_rng(0).integers(0, 255, (5, 40, 56, 3), np.uint8)
    predictor = sam2_registry.get("sam2.1-tiny")
    visited = []
    original = predictor.propagate_in_video

    def spy(*args, **kwargs):
        for frame_index, ids, logits in original(*args, **kwargs):
            visited.append((frame_index, kwargs.get("reverse", False)))
            yield frame_index, ids, logits

    predictor.propagate_in_video = spy
    try:
        out = segment_video(frames, [Prompt(2, 1, [(20, 20, 1), (40, 30, 0)]), Prompt(2, 3, box=(5, 5, 30, 30)),
                                     Prompt(4, 1, [(10, 10, 0)])], registry=sam2_registry)
    finally:
        del predictor.propagate_in_video
    assert sorted(out) == [1, 3]
    assert all(m.shape == (5, 40, 56) and m.dtype == bool for m in out.values())
    assert {f for f, reverse in visited if not reverse} == {2, 3, 4}
    assert {f for f, reverse in visited if reverse} == {0, 1, 2}


def test_bad_prompts_are_clear_errors(sam2_registry):
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    with pytest.raises(UserError, match="outside the clip"):
        segment_video(frames, [Prompt(7, 1, [(1, 1, 1)])], registry=sam2_registry)
    with pytest.raises(UserError, match="Click on the object"):
        segment_video(frames, [], registry=sam2_registry)


def test_preview_mask_for_one_frame(sam2_registry):
    from editors.diffusion.sam2_video import preview_mask

    frame = np.random.default_rng(1).integers(0, 255, (40, 56, 3), np.uint8)
    mask = preview_mask(frame, Prompt(0, 1, [(20, 20, 1)], box=(5, 5, 40, 30)), registry=sam2_registry)
    assert mask.shape == (40, 56) and mask.dtype == bool
