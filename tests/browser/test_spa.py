"""The radiologist SPA, driven in headless Chromium against the real API and model."""

import re
from pathlib import Path

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What the reader sees for each API label and finding (frontend/format.js).
DISPLAY_NAMES = {
    "glioma": "Glioma",
    "meningioma": "Meningioma",
    "no_tumor": "No tumour",
    "pituitary": "Pituitary",
    "other_tumour": "Other tumour",
}
FINDING_NAMES = {
    "tumour_suspected": "Tumour suspected",
    "indeterminate": "Indeterminate",
    "no_tumour": "No tumour found",
}
PAGE_SIZE = 25  # the worklist's default page (25, 50 or 100 rows)
MARKUP_FILENAME = "<img src=x onerror=alert(1)>.png"
NOT_AN_IMAGE = b"Patient notes: this is plain text, not an image.\n"


def sign_in(page, key: str) -> None:
    page.get_by_test_id("api-key-input").fill(key)
    page.get_by_test_id("sign-in").click()


def open_app(page, url: str, key: str) -> None:
    """Open the SPA and sign in with `key` through the form, as a person would."""
    page.goto(url)
    expect(page.get_by_test_id("api-status")).to_have_attribute("data-state", "online")
    sign_in(page, key)
    expect(page.get_by_test_id("session")).to_be_visible()


def upload(page, name: str, data: bytes, mime_type: str) -> None:
    page.get_by_test_id("upload-input").set_input_files(
        files=[{"name": name, "mimeType": mime_type, "buffer": data}]
    )


def worklist_row(page, record_id: str):
    # By its id: where a new record's row falls in triage order depends on what the model
    # answered; pages opened at NEWEST_FIRST keep it on the first page.
    return page.locator(f'[data-testid="record-row"][data-record-id="{record_id}"]')


# The worklist's newest-first order, in the address: a record a test has just made is on
# the first page however many records earlier tests left and whatever the model answered.
NEWEST_FIRST = "/?sort=newest"


def shown_record_id(page) -> str:
    """The id of the record in the result panel, once a result (not a spinner) is shown.

    Every result leads with a headline: the finding, an older record's class, or "Not
    assessable" for an image that was not read for tumours.
    """
    expect(page.locator(".result-card[data-record-id] .result-headline")).to_be_visible()
    return page.locator(".result-card[data-record-id]").get_attribute("data-record-id")


def expect_the_records_answer(page, record: dict) -> None:
    """The result panel leads with the record's finding (if it has one), then its class."""
    if record.get("suitability") == "out_of_distribution":
        expect(page.get_by_test_id("result-not-assessable")).to_be_visible()
        expect(page.get_by_test_id("result-label")).to_have_count(0)
        return
    if record.get("finding") is not None:
        finding = page.get_by_test_id("result-finding")
        expect(finding).to_have_attribute("data-finding", record["finding"])
        expect(finding).to_have_text(FINDING_NAMES[record["finding"]])
        share = f"{record['tumour_probability'] * 100:.1f}%"
        expect(page.get_by_test_id("tumour-probability")).to_contain_text(share)
    label = page.get_by_test_id("result-label")
    expect(label).to_have_attribute("data-label", record["label"])
    expect(label).to_have_text(DISPLAY_NAMES[record["label"]])


def test_uploading_an_mri_jpeg_shows_the_label_the_api_recorded_and_adds_a_row(
    page,
    spa_url,
    radiologist_key,
    api_get,
    sartaj_test_jpeg: Path,
    artifacts_dir: Path,
    page_problems,
):
    open_app(page, spa_url + NEWEST_FIRST, radiologist_key)
    # The worklist opens on the unreviewed records.
    count_before = api_get("/records?limit=1&review_status=unreviewed")["count"]

    upload(page, sartaj_test_jpeg.name, sartaj_test_jpeg.read_bytes(), "image/jpeg")

    record_id = shown_record_id(page)
    record = api_get(f"/records/{record_id}")
    expect_the_records_answer(page, record)
    expect(page.get_by_test_id("result-model-version")).to_have_text(f"v{record['model_version']}")

    count = count_before + 1
    rows = page.get_by_test_id("record-row")
    expect(worklist_row(page, record_id)).to_contain_text(sartaj_test_jpeg.name)
    expect(rows).to_have_count(min(count, PAGE_SIZE))
    expect(page.locator("#records-range")).to_have_text(f"1–{min(count, PAGE_SIZE)} of {count}")
    expect(page.get_by_test_id("research-notice")).to_contain_text(
        "Research use only — not for diagnosis"
    )

    page.screenshot(path=artifacts_dir / "spa-main.png")
    assert page_problems.errors == []


def test_uploading_a_text_file_shows_the_servers_415_message_and_the_page_keeps_working(
    page, spa_url, api_url, radiologist_key, auth_headers, synthetic_png: bytes, page_problems
):
    # What the server itself says about this file, so the test follows its wording.
    direct = httpx.post(
        f"{api_url}/classify",
        files={"file": ("notes.txt", NOT_AN_IMAGE, "text/plain")},
        headers=auth_headers,
    )
    assert direct.status_code == 415
    server_detail = direct.json()["detail"]
    open_app(page, spa_url + NEWEST_FIRST, radiologist_key)

    upload(page, "notes.txt", NOT_AN_IMAGE, "text/plain")

    error = page.get_by_role("alert").get_by_test_id("error-message")
    expect(error).to_contain_text(server_detail)
    expect(error).to_contain_text("Unsupported file type")
    expect(page.locator(".result-headline")).to_have_count(0)

    # The page still works: a valid image afterwards is classified and the error clears.
    upload(page, "slice.png", synthetic_png, "image/png")
    shown_record_id(page)
    expect(page.get_by_test_id("error-message")).to_have_count(0)
    assert page_problems.errors == []


def test_with_the_api_unreachable_the_page_says_it_cannot_reach_it(
    page, offline_spa_url, artifacts_dir: Path, page_problems
):
    page.goto(offline_spa_url)

    error = page.get_by_role("alert").get_by_test_id("error-message")
    expect(error).to_contain_text("Cannot reach the medimg API at http://127.0.0.1:")
    expect(error).to_contain_text("is it running?")
    # Not a blank page: the upload control and the notice are still there.
    expect(page.get_by_text("choose files")).to_be_visible()
    expect(page.get_by_test_id("research-notice")).to_be_visible()
    expect(page.get_by_test_id("api-status")).to_have_attribute("data-state", "offline")
    page.screenshot(path=artifacts_dir / "spa-api-unreachable.png")
    assert page_problems.errors == []


def test_a_filename_containing_markup_is_rendered_as_text(
    page, spa_url, radiologist_key, api_get, synthetic_png: bytes, page_problems
):
    open_app(page, spa_url + NEWEST_FIRST, radiologist_key)

    upload(page, MARKUP_FILENAME, synthetic_png, "image/png")

    record_id = shown_record_id(page)
    assert api_get(f"/records/{record_id}")["filename"] == MARKUP_FILENAME
    expect(page.get_by_test_id("result-filename")).to_have_text(MARKUP_FILENAME)
    expect(worklist_row(page, record_id)).to_contain_text(MARKUP_FILENAME)
    assert page.locator('img[src="x"]').count() == 0
    assert page_problems.dialogs == []
    assert page_problems.errors == []


def test_dropping_an_image_on_the_drop_zone_classifies_it(
    page, spa_url, radiologist_key, synthetic_png: bytes, page_problems
):
    open_app(page, spa_url + NEWEST_FIRST, radiologist_key)
    # A real drag from the OS cannot be scripted; a drop event with a DataTransfer is
    # exactly what the page receives from one.
    data_transfer = page.evaluate_handle(
        """(bytes) => {
            const transfer = new DataTransfer();
            const file = new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" });
            transfer.items.add(file);
            return transfer;
        }""",
        list(synthetic_png),
    )

    page.dispatch_event("#dropzone", "drop", {"dataTransfer": data_transfer})

    record_id = shown_record_id(page)
    expect(page.get_by_test_id("result-filename")).to_have_text("dropped.png")
    expect(worklist_row(page, record_id)).to_contain_text("dropped.png")
    assert page_problems.errors == []


def test_from_an_origin_the_api_does_not_allow_the_page_points_at_the_cors_setting(
    page, foreign_origin_spa_url, page_problems
):
    page.goto(foreign_origin_spa_url)

    error = page.get_by_role("alert").get_by_test_id("error-message")
    expect(error).to_contain_text("answered, but the browser blocked its response")
    expect(error).to_contain_text(f"MEDIMG_CORS_ORIGINS includes {foreign_origin_spa_url}")
    expect(page.get_by_test_id("api-status")).to_have_attribute("data-state", "blocked")
    assert page_problems.errors == []


# ---- signing in -------------------------------------------------------------------------

KEY_STORAGE_NAME = "medimg.apiKey"
REFUSED = "Your API key was refused — sign in again"


def stored_key(page) -> str | None:
    return page.evaluate(f"sessionStorage.getItem({KEY_STORAGE_NAME!r})")


def test_signing_in_shows_the_keys_name_and_role_and_signing_out_forgets_the_key(
    page, spa_url, radiologist_key, synthetic_png: bytes, artifacts_dir: Path, page_problems
):
    page.goto(spa_url)
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    expect(page.locator("#records-body")).to_contain_text("Sign in with your API key")

    sign_in(page, radiologist_key)

    expect(page.get_by_test_id("session-name")).to_have_text("Dr Browser")
    expect(page.get_by_test_id("session-role")).to_have_text("radiologist")
    expect(page.get_by_test_id("sign-in-form")).to_be_hidden()
    assert stored_key(page) == radiologist_key
    upload(page, "slice.png", synthetic_png, "image/png")
    shown_record_id(page)
    # The stored image needs the key too: it is fetched, then drawn from a blob: URL.
    expect(page.locator(".result-card img.result-img")).to_have_attribute(
        "src", re.compile("^blob:")
    )
    page.screenshot(path=artifacts_dir / "spa-signed-in.png")

    page.get_by_test_id("sign-out").click()

    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    expect(page.get_by_test_id("session")).to_be_hidden()
    expect(page.get_by_test_id("record-row")).to_have_count(0)
    expect(page.locator(".result-headline")).to_have_count(0)
    assert stored_key(page) is None
    assert page_problems.errors == []


def test_a_signed_in_key_survives_a_reload_of_the_tab(page, spa_url, radiologist_key):
    open_app(page, spa_url, radiologist_key)

    page.reload()

    expect(page.get_by_test_id("session-name")).to_have_text("Dr Browser")
    expect(page.get_by_test_id("sign-in-form")).to_be_hidden()


def test_a_refused_key_gets_a_clear_message_and_the_sign_in_form_again(
    page, spa_url, artifacts_dir: Path, page_problems
):
    page.goto(spa_url)
    expect(page.get_by_test_id("api-status")).to_have_attribute("data-state", "online")

    sign_in(page, "mdk_this-key-was-never-issued")

    error = page.get_by_role("alert").get_by_test_id("error-message")
    expect(error).to_contain_text(REFUSED)
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    expect(page.get_by_test_id("session")).to_be_hidden()
    assert stored_key(page) is None
    page.screenshot(path=artifacts_dir / "spa-key-refused.png")
    assert page_problems.errors == []


def test_an_upload_right_after_a_result_is_accepted_while_the_worklist_still_refreshes(
    page, spa_url, radiologist_key, synthetic_png: bytes, page_problems
):
    open_app(page, spa_url, radiologist_key)
    # Hold every worklist refresh: on a busy server the list can lag behind the result.
    held = []

    def hold(route) -> None:
        held.append(route)

    page.route(re.compile(r".*/records\?.*"), hold)

    upload(page, "first.png", synthetic_png, "image/png")
    first = shown_record_id(page)
    upload(page, "second.png", synthetic_png, "image/png")

    expect(page.locator(f".result-card:not([data-record-id='{first}'])")).to_be_visible()
    expect(page.get_by_test_id("upload-item")).to_contain_text("second.png")
    for route in held:
        route.continue_()
