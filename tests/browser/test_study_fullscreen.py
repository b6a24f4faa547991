"""Issue #26, the study view and full screen: a DICOM record's study shows its other slices
beside the image (in order, the one on screen marked, each opening in the same view, ← and →
stepping through them), and the record view goes full screen (the button or F; Esc leaves)
with window/level, the slices and the review keys still acting on the record on screen. No
serious axe violation on either at 1440x900 or 1024x768.
"""

import io
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from tests.browser.test_spa import open_app
from tests.browser.test_triage_viewer import LARGE, SMALL, in_viewport, open_record
from tests.browser.test_workspace import blocking_violations, classify_directly

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SLICES = 3
FULLSCREEN_ELEMENT = "() => document.fullscreenElement && document.fullscreenElement.id"
# The triage order of GET /records?sort=suspicion: what the study-level result leads with.
SUSPICION_RANK = {"tumour_suspected": 0, "indeterminate": 1, "no_tumour": 2}


def mr_slice(study_uid: str, series_uid: str, number: int) -> bytes:
    """pydicom's MR_small as slice `number` of a study: its own instance, shifted pixels."""
    dataset = dcmread(get_testdata_file("MR_small.dcm"))
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.InstanceNumber = number
    dataset.PixelData = np.roll(dataset.pixel_array, 6 * number, axis=0).tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def mri_slice_dicom(jpeg: Path, study_uid: str, series_uid: str, number: int) -> bytes:
    """A real brain-MRI JPEG as slice `number` of a head MR study (8-bit greyscale)."""
    pixels = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
    assert pixels is not None, jpeg
    dataset = dcmread(get_testdata_file("MR_small.dcm"))
    for name in ("WindowCenter", "WindowWidth"):
        delattr(dataset, name)  # the JPEG's greys are already what is to be seen
    dataset.BodyPartExamined = "BRAIN"
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.InstanceNumber = number
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def classify_dicom(api: httpx.Client, data: bytes, name: str) -> dict:
    response = api.post("/classify", files={"file": (name, data, "application/dicom")})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def study(api: httpx.Client) -> list[dict]:
    """Three slices of one new study (one series), sent in instance order, and one slice of
    another study sent between them; the study's records in the order they arrived."""
    study_uid, series_uid = generate_uid(), generate_uid()
    records = []
    for number in range(1, SLICES + 1):
        data = mr_slice(study_uid, series_uid, number)
        records.append(classify_dicom(api, data, f"s{number}.dcm"))
        if number == 1:
            classify_dicom(api, mr_slice(generate_uid(), generate_uid(), 9), "other.dcm")
    hashes = {record["study_uid_hash"] for record in records}
    assert len(hashes) == 1 and None not in hashes, hashes
    return records


def leading(records: list[dict]) -> dict:
    """The most suspicious slice, as the study-level result names it."""

    def key(record: dict) -> tuple[int, float]:
        if record["suitability"] == "out_of_distribution" or record["finding"] is None:
            return (3, 0.0)
        return (SUSPICION_RANK[record["finding"]], -(record["tumour_probability"] or 0.0))

    return min(records, key=key)  # min keeps the first of equals, as the page does


def expect_on_screen(page, spa_url: str, record: dict) -> None:
    card = page.locator(f".result-card[data-record-id='{record['id']}']")
    expect(card.locator("img.result-img")).to_be_visible()
    expect(page).to_have_url(f"{spa_url}/#/records/{record['id']}")
    current = page.locator("[data-testid='study-slice'][aria-current='true']")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-record-id", str(record["id"]))


def frame_brightness(page) -> float:
    """Mean grey of the viewer's frame as drawn on screen (window/level included)."""
    png = page.get_by_test_id("viewer-frame").screenshot()
    pixels = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return float(pixels.mean())


# ---- the study view ------------------------------------------------------------------------


def test_a_dicom_records_study_shows_its_slices_in_order_each_opening_in_the_same_view(
    sized_page,
    spa_url,
    radiologist_key,
    api: httpx.Client,
    study: list[dict],
    synthetic_png: bytes,
    artifacts_dir: Path,
    page_problems,
):
    page = sized_page(LARGE)
    first, middle, last = study
    open_record(page, spa_url, radiologist_key, middle["id"])
    strip = page.get_by_test_id("study-strip")
    slices = strip.get_by_test_id("study-slice")
    expect(strip).to_be_visible()
    # Only this study's slices, in the order they arrived (no instance number is stored).
    expect(slices).to_have_count(SLICES)
    for index, record in enumerate(study):
        expect(slices.nth(index)).to_have_attribute("data-record-id", str(record["id"]))
    expect(strip.get_by_test_id("study-title")).to_have_text(f"Study · {SLICES} slices")
    expect_on_screen(page, spa_url, middle)
    expect(strip.get_by_test_id("study-thumb-image")).to_have_count(SLICES)
    lead = leading(study)
    lead_line = strip.get_by_test_id("study-lead")
    if lead["finding"] is None or lead["suitability"] == "out_of_distribution":
        expect(lead_line).to_have_text("No slice has a tumour finding.")
    else:
        expect(lead_line).to_have_attribute("data-record-id", str(lead["id"]))
    # The strip lies beside the image, not under it.
    strip_box = strip.bounding_box()
    frame_box = page.get_by_test_id("viewer-frame").bounding_box()
    assert strip_box["x"] + strip_box["width"] <= frame_box["x"], (strip_box, frame_box)
    assert strip_box["y"] < frame_box["y"] + frame_box["height"] / 2, (strip_box, frame_box)
    page.screenshot(path=artifacts_dir / "study-view-1440.png")

    # A thumbnail opens its slice in this page: no load, and the study is not listed again.
    page.evaluate("() => { window.stayedOnThePage = true; }")
    listings: list[str] = []
    page.on("request", lambda r: "study_uid_hash=" in r.url and listings.append(r.url))
    slices.nth(2).click()
    expect_on_screen(page, spa_url, last)
    expect(page.get_by_test_id("review-form")).to_have_attribute("data-record-id", str(last["id"]))

    # ← and → step through the study from the record; past its end nothing moves.
    page.locator("#result .result-headline").focus()
    page.keyboard.press("ArrowLeft")
    expect_on_screen(page, spa_url, middle)
    page.keyboard.press("ArrowLeft")
    expect_on_screen(page, spa_url, first)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    expect_on_screen(page, spa_url, middle)
    assert page.evaluate("() => window.stayedOnThePage") is True
    assert listings == []

    # A record of no study has no strip.
    upload = classify_directly(api, synthetic_png)
    page.evaluate(f"() => {{ window.location.hash = '#/records/{upload['id']}'; }}")
    expect(page.locator(f".result-card[data-record-id='{upload['id']}']")).to_be_visible()
    expect(strip).to_be_hidden()
    expect(slices).to_have_count(0)
    assert page_problems.errors == []


def test_the_study_leads_with_its_most_suspicious_slice(
    sized_page, spa_url, radiologist_key, api: httpx.Client, dataset_dir: Path, artifacts_dir
):
    testing = dataset_dir / "brain-tumor-mri-sartaj" / "Testing"
    classes = ("pituitary_tumor", "glioma_tumor")
    jpegs = [sorted((testing / name).glob("*.jpg"))[0] for name in classes]
    study_uid, series_uid = generate_uid(), generate_uid()
    records = [
        classify_dicom(api, mri_slice_dicom(jpeg, study_uid, series_uid, number), jpeg.name)
        for number, jpeg in enumerate(jpegs, start=1)
    ]
    lead = leading(records)
    if lead["finding"] is None or lead["suitability"] == "out_of_distribution":
        pytest.fail(f"the served model read no slice of the MRI study for tumours: {records}")
    other = next(record for record in records if record["id"] != lead["id"])
    page = sized_page(LARGE)
    open_record(page, spa_url, radiologist_key, other["id"])
    strip = page.get_by_test_id("study-strip")
    lead_line = strip.get_by_test_id("study-lead")
    expect(lead_line).to_have_attribute("data-record-id", str(lead["id"]))
    percent = int(lead["tumour_probability"] * 100 + 0.5)  # toFixed(0), half up
    expect(lead_line).to_contain_text(f"#{lead['id']} · {percent}%")
    expect(strip.get_by_test_id("study-thumb-image")).to_have_count(len(records))
    page.screenshot(path=artifacts_dir / "study-view-mri-1440.png")

    # The study-level result opens its slice here, which is then marked as on screen.
    strip.get_by_test_id("study-lead-open").click()
    expect_on_screen(page, spa_url, lead)
    expect(strip.get_by_test_id("study-lead-open")).to_have_count(0)
    expect(lead_line).to_contain_text("(on screen)")


def test_the_slice_arrows_act_only_with_a_record_on_screen_and_not_in_a_field(
    sized_page, spa_url, radiologist_key, study: list[dict]
):
    page = sized_page(LARGE)
    first, middle, _ = study
    open_record(page, spa_url, radiologist_key, middle["id"])
    expect(page.get_by_test_id("study-slice")).to_have_count(SLICES)

    # In the note, the arrow moves the caret.
    note = page.get_by_test_id("review-form").locator("textarea")
    note.fill("caret")
    page.keyboard.press("ArrowLeft")
    expect_on_screen(page, spa_url, middle)
    # On the worklist's Refresh button: not the record's key either.
    page.locator("#records-refresh").focus()
    page.keyboard.press("ArrowLeft")
    expect_on_screen(page, spa_url, middle)
    page.locator("#result .result-headline").focus()
    page.keyboard.press("ArrowLeft")
    expect_on_screen(page, spa_url, first)


# ---- full screen -----------------------------------------------------------------------------


def test_full_screen_keeps_window_level_the_slices_and_the_review_keys_on_the_record(
    sized_page,
    spa_url,
    radiologist_key,
    api: httpx.Client,
    study: list[dict],
    artifacts_dir: Path,
    page_problems,
):
    page = sized_page(LARGE)
    _, middle, last = study
    open_record(page, spa_url, radiologist_key, middle["id"])
    expect(page.get_by_test_id("study-slice")).to_have_count(SLICES)
    button = page.get_by_test_id("viewer-fullscreen")
    frame = page.get_by_test_id("viewer-frame")
    before = frame.bounding_box()

    button.click()
    page.wait_for_function("() => document.fullscreenElement !== null")
    assert page.evaluate(FULLSCREEN_ELEMENT) == "result-panel"
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("study-strip")).to_be_visible()
    page.wait_for_function(
        "height => document.querySelector('.viewer-frame').clientHeight > height",
        arg=before["height"],
    )
    box = frame.bounding_box()
    assert box["height"] > before["height"] and box["width"] > before["width"], (before, box)

    # Window/level by drag, and its presets, on the slice as drawn.
    values = page.get_by_test_id("viewer-wl-values")
    full_range = frame_brightness(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 155, box["y"] + box["height"] / 2 + 28, steps=5)
    page.mouse.up()
    expect(values).to_have_text("W 100 · L 100")
    page.get_by_test_id("viewer-preset-contrast").click()
    expect(values).to_have_text("W 80 · L 110")
    contrast = frame_brightness(page)
    assert abs(contrast - full_range) > 2, (full_range, contrast)
    # The review stays beside the image.
    reject = page.get_by_test_id("review-reject")
    expect(reject).to_be_enabled()
    assert in_viewport(page, reject) and in_viewport(page, frame)
    page.screenshot(path=artifacts_dir / "fullscreen-1440.png")

    # The next slice opens in full screen, with the reader's window.
    page.locator("#result .result-headline").focus()
    page.keyboard.press("ArrowRight")
    expect_on_screen(page, spa_url, last)
    assert page.evaluate(FULLSCREEN_ELEMENT) == "result-panel"
    expect(values).to_have_text("W 80 · L 110")

    # R rejects the record on screen, and full screen (and the window) stay.
    expect(page.get_by_test_id("review-reject")).to_be_enabled()
    page.locator("#result .result-headline").focus()
    page.keyboard.press("r")
    expect(page.get_by_test_id("result-review-status")).to_have_text("Rejected")
    assert api.get(f"/records/{last['id']}").json()["review_status"] == "rejected"
    assert api.get(f"/records/{middle['id']}").json()["review_status"] == "unreviewed"
    assert page.evaluate(FULLSCREEN_ELEMENT) == "result-panel"
    expect(values).to_have_text("W 80 · L 110")

    # Esc leaves full screen; F enters it again and leaves it.
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.fullscreenElement === null")
    expect(page.get_by_test_id("viewer-fullscreen")).to_have_attribute("aria-pressed", "false")
    page.locator("#result .result-headline").focus()
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null")
    expect(page.get_by_test_id("viewer-fullscreen")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement === null")
    assert page_problems.errors == []


def test_f_is_typing_in_a_field_and_nothing_without_a_record_on_screen(
    sized_page, spa_url, radiologist_key, study: list[dict]
):
    page = sized_page(LARGE)
    open_record(page, spa_url, radiologist_key, study[0]["id"])
    note = page.get_by_test_id("review-form").locator("textarea")
    note.click()
    page.keyboard.press("f")
    expect(note).to_have_value("f")
    assert page.evaluate(FULLSCREEN_ELEMENT) is None

    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("dashboard-screen")).to_be_visible()
    page.locator("body").press("f")
    assert page.evaluate(FULLSCREEN_ELEMENT) is None

    # The worklist with no record opened yet.
    fresh = sized_page(LARGE)
    open_app(fresh, spa_url, radiologist_key)
    expect(fresh.get_by_test_id("record-row").first).to_be_visible()
    fresh.locator("body").press("f")
    expect(fresh.get_by_test_id("viewer-fullscreen")).to_have_count(0)
    assert fresh.evaluate(FULLSCREEN_ELEMENT) is None


def test_full_screen_at_1024_by_768_shows_the_image_and_the_review_together(
    sized_page, spa_url, radiologist_key, study: list[dict], artifacts_dir: Path
):
    page = sized_page(SMALL)
    open_record(page, spa_url, radiologist_key, study[1]["id"])
    expect(page.get_by_test_id("study-slice")).to_have_count(SLICES)
    page.get_by_test_id("viewer-fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement !== null")
    image = page.locator(".viewer-frame img.result-img")
    reject = page.get_by_test_id("review-reject")
    expect(reject).to_be_enabled()
    assert in_viewport(page, image) and in_viewport(page, reject)
    assert in_viewport(page, page.locator("[data-testid='study-slice'][aria-current='true']"))
    page.screenshot(path=artifacts_dir / "fullscreen-1024.png")


# ---- accessibility -------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [LARGE, SMALL], ids=["1440x900", "1024x768"])
def test_no_serious_accessibility_violation_in_the_study_view_or_full_screen(
    sized_page, spa_url, radiologist_key, study: list[dict], viewport: dict
):
    page = sized_page(viewport)
    open_record(page, spa_url, radiologist_key, study[1]["id"])
    expect(page.get_by_test_id("study-thumb-image")).to_have_count(SLICES)
    expect(page.get_by_test_id("review-form")).to_be_visible()
    assert blocking_violations(page) == [], "record view with its study's slices"

    page.get_by_test_id("viewer-fullscreen").click()
    page.wait_for_function("() => document.fullscreenElement !== null")
    assert blocking_violations(page) == [], "record view in full screen"
