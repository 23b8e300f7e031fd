"""`--batch`: several inputs through one verb in one process: per-input masks by name, a bad input skipped with
its message, the model loaded once."""
import shutil

import pytest

from editor_contract import FRAMES, make_clip, square_masks
from editors.__main__ import main
from editors.core.clip import read_clip


@pytest.fixture
def batch(tmp_path):
    inputs, masks = tmp_path / "in", tmp_path / "masks"
    inputs.mkdir()
    make_clip(inputs / "first.mp4")
    shutil.copy(inputs / "first.mp4", inputs / "second.mp4")
    square_masks(masks / "first")
    square_masks(masks / "second")
    return inputs, masks


def test_batch_runs_every_input_with_its_own_mask(batch, tmp_path):
    inputs, masks = batch
    code = main(["remove", "--batch", str(inputs), "--mask", str(masks), "--output", str(tmp_path / "out") + "/",
                 "--engine", "classic", "--quiet"])
    assert code == 0
    for name in ("first", "second"):
        assert read_clip(tmp_path / "out" / f"{name}.mp4").num_frames == FRAMES


def test_a_bad_input_is_reported_and_the_others_still_run(batch, tmp_path, capsys):
    inputs, masks = batch
    (inputs / "broken.mp4").write_bytes(b"\x00" * 200)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{inputs / 'broken.mp4'}\n# a comment\n{inputs / 'second.mp4'}\n")
    code = main(["remove", "--batch", str(listing), "--mask", str(masks), "--output", str(tmp_path / "out") + "/",
                 "--engine", "classic", "--quiet"])
    assert code == 2 and "broken.mp4" in capsys.readouterr().err
    assert (tmp_path / "out" / "second.mp4").exists() and not (tmp_path / "out" / "broken.mp4").exists()


def test_batch_loads_the_model_once(batch, tmp_path, tiny_vace_dir, monkeypatch):
    from editors.core.registry import default_registry

    inputs, masks = batch
    monkeypatch.setenv("EDITHUB_MODELS_DIR", str(tiny_vace_dir.parent))
    default_registry.cache_clear()
    try:
        code = main(["remove", "--batch", str(inputs), "--mask", str(masks), "--output", str(tmp_path / "out") + "/",
                     "--engine", "diffusion", "--steps", "1", "--no-effects", "--quiet"])
        assert code == 0 and default_registry().load_count == {"vace-1.3b": 1}
    finally:
        default_registry.cache_clear()
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 2
