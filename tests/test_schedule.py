"""The coarse-to-fine planner (M3DDM): which frames in which stage, every frame once, guides finished."""
import pytest

from editors.diffusion.schedule import plan_coarse_to_fine


@pytest.mark.parametrize("count", [1, 2, 17, 18, 81, 300, 1000])
def test_every_frame_generated_once_and_guides_are_finished(count):
    stages = plan_coarse_to_fine(count, window=17)
    finished = set()
    for stage in stages:
        generated_here = set()
        for frames, guides in zip(stage.windows, stage.guides):
            assert set(guides) <= finished, f"{stage.name}: a guide is not finished yet"
            assert not set(frames) & (finished | generated_here), "a frame is generated twice"
            assert len(frames) + len(guides) <= 17
            generated_here |= set(frames)
        finished |= generated_here
        assert all((size - 1) % 4 == 0 and size <= 17 for size in stage.sizes())
    assert finished == set(range(count))


def test_short_clips_are_one_window():
    assert [s.windows for s in plan_coarse_to_fine(1)] == [[[0]]]
    assert [s.windows for s in plan_coarse_to_fine(17)] == [[list(range(17))]]


def test_keyframes_first_span_the_whole_clip():
    for count in (81, 300):
        stages = plan_coarse_to_fine(count, window=17)
        assert stages[0].name == "keyframes" and stages[0].guides == [[]]
        keys = stages[0].windows[0]
        assert keys[0] == 0 and keys[-1] == count - 1 and len(keys) == 17
        assert stages[-1].name == "infill"


def test_stage_structure_81_and_300():
    names = [s.name for s in plan_coarse_to_fine(81, window=17)]
    assert names == ["keyframes", "infill"]                       # gaps of 4 fit beside their guides
    stages = plan_coarse_to_fine(300, window=17)
    assert [s.name for s in stages] == ["keyframes", "interpolation", "infill"]
    assert all(len(g) == 2 for g in stages[1].guides)              # each long gap between its two keyframes
