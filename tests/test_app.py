"""The hub as users reach it: `python app.py` served, then called through gradio_client."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def test_api_lists_every_editor_endpoint(client):
    from editors import EDITORS

    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for name in EDITORS:
        assert f"/{name}" in endpoints


def test_remove_endpoint_on_an_example_clip(client):
    from gradio_client import handle_file

    from editors.core.clip import read_clip

    result, compare, background, layers = client.predict(
        handle_file(str(EXAMPLES / "tennis.mp4")), [handle_file(str(EXAMPLES / "tennis_mask.mp4"))],
        True, 0, "classic", 25, 5.0, 0, "", True, [], api_name="/remove")
    source, out = read_clip(EXAMPLES / "tennis.mp4"), read_clip(result)
    assert out.num_frames == source.num_frames and out.fps == source.fps
    assert (out.width, out.height) == (source.width, source.height)
    assert read_clip(background).num_frames == source.num_frames
    assert len(layers) == 1 and layers[0].endswith(".zip")
    side_by_side = read_clip(compare)                     # before | after, one video
    assert side_by_side.num_frames == source.num_frames and side_by_side.width == 2 * source.width + 8


def test_remove_endpoint_reports_bad_input_and_stays_up(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "notavideo.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(AppError, match="notavideo"):
        client.predict(handle_file(str(bad)), [handle_file(str(EXAMPLES / "tennis_mask.mp4"))],
                       True, 0, "classic", 25, 5.0, 0, "", False, [], api_name="/remove")
    with pytest.raises(AppError, match="mask"):
        client.predict(handle_file(str(EXAMPLES / "tennis.mp4")), [], True, 0, "classic", 25, 5.0, 0, "", False,
                       [], api_name="/remove")
    assert "/remove" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
