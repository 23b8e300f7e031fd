"""One real browser (Debian's Chromium driven by Playwright): the page loads, the tabs show, a clip is uploaded,
remove runs, the result video appears."""
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CHROMIUM = "/usr/bin/chromium"
# A closed network: stop Chromium from calling home, which would fail many times at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup.sh --test installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server_url):
    """A fresh page: a new browser session of the hub (its own clip and objects)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server_url, wait_until="domcontentloaded")
    yield page
    page.close()


def test_tabs_show(page):
    from playwright.sync_api import expect

    from editors import load_editors

    for editor in load_editors():
        expect(page.get_by_role("tab", name=editor.TITLE).first).to_be_visible(timeout=60_000)


def test_upload_and_remove_shows_the_result_video(page, tmp_path):
    page.get_by_role("tab", name="Remove").first.click()
    page.locator("#remove-video input[type=file]").set_input_files(str(EXAMPLES / "tennis.mp4"))
    page.locator("#remove-masks input[type=file]").set_input_files(str(EXAMPLES / "tennis_mask.mp4"))
    page.locator("#remove-video video").first.wait_for(timeout=60_000)
    page.locator("#remove-engine").get_by_label("classic").check()
    page.locator("#remove-run").click()
    result = page.locator("#remove-result video")
    result.first.wait_for(timeout=240_000)
    assert "removed" in (result.first.get_attribute("src") or "")
    page.screenshot(path=str(tmp_path / "remove.png"))


def test_click_to_segment_then_track_then_remove_uses_the_masks(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Segment").first.click()
    page.locator("#segment-video input[type=file]").set_input_files(str(EXAMPLES / "tennis.mp4"))
    picture = page.locator("#segment-image img").first
    picture.wait_for(timeout=60_000)
    before = picture.get_attribute("src")
    page.locator("#segment-engine").get_by_label("classic").check()
    box = picture.bounding_box()
    import numpy as np
    from PIL import Image

    ys, xs = np.nonzero(np.asarray(Image.open(EXAMPLES / "tennis_mask_first.png")) > 127)   # on the player
    x, y = float(np.median(xs)), float(np.median(ys))
    picture.click(position={"x": box["width"] * x / 432, "y": box["height"] * y / 240})
    expect(picture).not_to_have_attribute("src", before, timeout=60_000)   # the overlay preview replaced it
    page.locator("#segment-run").click()
    page.locator("#segment-result video").first.wait_for(timeout=240_000)
    page.get_by_role("tab", name="Remove").first.click()
    expect(page.get_by_text("Objects from the Segment tab to remove")).to_be_visible(timeout=30_000)


def test_outpaint_by_pixels_per_side_shows_the_result_video(page):
    page.get_by_role("tab", name="Outpaint").first.click()
    page.locator("#outpaint-video input[type=file]").set_input_files(str(EXAMPLES / "schoolgirls.mp4"))
    page.locator("#outpaint-video video").first.wait_for(timeout=60_000)
    page.get_by_label("pixels per side").check()
    left = page.get_by_label("Left px")
    left.fill("48")
    left.press("Enter")
    page.locator("#outpaint-engine").get_by_label("classic").check()
    page.locator("#outpaint-run").click()
    result = page.locator("#outpaint-result video")
    result.first.wait_for(timeout=240_000)
    assert "480x240" in (result.first.get_attribute("src") or "")   # 432 + 48 wide, the name says the new size


def test_replace_previews_the_placement_then_shows_the_result(page, tmp_path):
    page.get_by_role("tab", name="Replace").first.click()
    page.locator("#replace-video input[type=file]").set_input_files(str(EXAMPLES / "dogs-jump.mp4"))
    page.locator("#replace-mask input[type=file]").set_input_files(str(EXAMPLES / "dogs-jump_dog.mp4"))
    page.locator("#replace-photo input[type=file]").set_input_files(str(EXAMPLES / "replace_target.png"))
    page.locator("#replace-cutout img").first.wait_for(timeout=60_000)        # the cut-out, to click on
    page.locator("#replace-preview img").first.wait_for(timeout=120_000)      # the placement, before running
    page.locator("#replace-engine").get_by_label("classic").check()
    page.locator("#replace-run").click()
    result = page.locator("#replace-result video")
    result.first.wait_for(timeout=240_000)
    assert "replaced" in (result.first.get_attribute("src") or "")
    page.screenshot(path=str(tmp_path / "replace.png"), full_page=True)
