"""The radiologist's workspace in headless Chromium, against the real API and model:
several uploads at once (MRI JPEG, DICOM, bad files), reviewing by mouse and keyboard, the
worklist's filters and deep links, the image viewer, the dashboard against GET /stats,
roles, error states, and an axe-core scan of each main screen.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydicom.data import get_testdata_file

from tests.browser.conftest import skip_or_fail
from tests.browser.test_spa import (
    DISPLAY_NAMES,
    expect_the_records_answer,
    open_app,
    shown_record_id,
    upload,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips, or fails under CI, with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FINDINGS = ["tumour_suspected", "indeterminate", "no_tumour"]
NOT_AN_IMAGE = b"Referral letter, plain text.\n"
# axe-core impacts that fail the scan; "minor" and "moderate" findings are reported only.
BLOCKING_IMPACTS = {"serious", "critical"}


@pytest.fixture(scope="module")
def mr_small_dicom() -> bytes:
    """A real MR DICOM from pydicom's test files."""
    return Path(get_testdata_file("MR_small.dcm")).read_bytes()


def classify_directly(
    api: httpx.Client, image: bytes, media_type: str = "image/png", **form
) -> dict:
    """A record made through the API, as a PACS bridge or another reader would."""
    upload = ("direct." + media_type.removeprefix("image/"), image, media_type)
    response = api.post("/classify", files={"file": upload}, data=form)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def mri_record(api: httpx.Client, sartaj_test_jpeg: Path) -> dict:
    """A record of a real brain-MRI slice: one with a class to confirm and to filter by."""
    response = api.post(
        "/classify",
        files={"file": (sartaj_test_jpeg.name, sartaj_test_jpeg.read_bytes(), "image/jpeg")},
    )
    assert response.status_code == 201, response.text
    record = response.json()
    if record["label"] is None:
        pytest.fail(f"the served model refused a Sartaj test MRI: {record['suitability_reason']}")
    return record


def model_classes(api: httpx.Client, record: dict) -> list[str]:
    """The classes the record's model knows, in the order the review buttons number them."""
    return (
        list(record["probabilities"])
        or api.get(f"/models/{record['model_version']}").json()["classes"]
    )


def files(*items: tuple[str, bytes, str]) -> list[dict]:
    return [{"name": name, "buffer": data, "mimeType": mime} for name, data, mime in items]


def blocking_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + "; ".join(f"{node['target']}: {node['failureSummary']}" for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def shown_outcome(record: dict) -> str:
    """What the SPA says a record is: its class, or that the input gate refused it."""
    if record.get("suitability") == "out_of_distribution":
        return "Not assessable"
    return DISPLAY_NAMES[record["label"]]


def other_class(classes: list[str], label: str) -> str:
    return next(name for name in classes if name != label)


def test_several_files_at_once_each_get_their_own_result_or_error(
    page,
    spa_url,
    radiologist_key,
    api: httpx.Client,
    sartaj_test_jpeg: Path,
    mr_small_dicom: bytes,
    artifacts_dir: Path,
    page_problems,
):
    open_app(page, spa_url, radiologist_key)

    page.get_by_test_id("upload-input").set_input_files(
        files=files(
            (sartaj_test_jpeg.name, sartaj_test_jpeg.read_bytes(), "image/jpeg"),
            ("notes.txt", NOT_AN_IMAGE, "text/plain"),
            ("MR_small.dcm", mr_small_dicom, "application/dicom"),
        )
    )

    items = page.get_by_test_id("upload-item")
    expect(items).to_have_count(3)
    expect(items.nth(2)).to_have_attribute("data-state", "done", timeout=60_000)
    expect(items.nth(0)).to_have_attribute("data-state", "done")
    expect(items.nth(1)).to_have_attribute("data-state", "failed")
    expect(items.nth(1)).to_contain_text("Unsupported file type")
    expect(page.get_by_test_id("error-message")).to_contain_text("1 of 3 files")
    for index, media_type in ((0, "image/jpeg"), (2, "application/dicom")):
        href = items.nth(index).locator("a").get_attribute("href")
        record = api.get(f"/records/{href.rsplit('/', 1)[1]}").json()
        assert record["media_type"] == media_type
        expect(items.nth(index)).to_contain_text(shown_outcome(record))
    # The last file classified is the one on screen, with the answer the API recorded.
    dicom_id = shown_record_id(page)
    dicom = api.get(f"/records/{dicom_id}").json()
    expect_the_records_answer(page, dicom)
    expect(page.get_by_test_id("result-model-version")).to_have_text(f"v{dicom['model_version']}")
    if dicom["suitability"] == "out_of_distribution":
        expect(page.locator(".prob")).to_have_count(0)
    else:
        expect(page.locator(".prob")).to_have_count(len(dicom["probabilities"]))
    page.screenshot(path=artifacts_dir / "workspace-uploads.png")
    assert page_problems.errors == []


def test_a_record_is_confirmed_by_button_and_corrected_by_keyboard_with_history(
    page,
    spa_url,
    radiologist_key,
    api: httpx.Client,
    mri_record: dict,
    artifacts_dir,
    page_problems,
):
    record = mri_record
    open_app(page, f"{spa_url}#/records/{record['id']}", radiologist_key)
    expect(page.locator(f".result-card[data-record-id='{record['id']}']")).to_be_visible()

    page.get_by_test_id("review-note").fill("Agree on the enhancing rim.")
    page.get_by_test_id("review-confirm").click()

    expect(page.get_by_test_id("review-item")).to_have_count(1)
    expect(page.get_by_test_id("review-item")).to_contain_text("Confirmed")
    expect(page.get_by_test_id("review-item")).to_contain_text("Agree on the enhancing rim.")
    expect(page.get_by_test_id("result-review-status")).to_have_text("Confirmed")

    classes = model_classes(api, record)
    target = other_class(classes, record["label"])
    page.locator("body").press(str(classes.index(target) + 1))

    expect(page.get_by_test_id("review-item")).to_have_count(2)
    reviews = api.get(f"/records/{record['id']}/reviews").json()["data"]
    assert [(r["action"], r["label"], r["note"]) for r in reviews] == [
        ("confirm", None, "Agree on the enhancing rim."),
        ("correct", target, None),
    ]
    assert api.get(f"/records/{record['id']}").json()["final_label"] == target
    expect(page.get_by_test_id("result-review-status")).to_have_text("Corrected")
    expect(page.get_by_test_id("review-item").nth(1)).to_contain_text(
        f"Corrected to {DISPLAY_NAMES[target]}"
    )
    page.screenshot(path=artifacts_dir / "record-review.png")
    assert page_problems.errors == []


def test_n_opens_the_first_unreviewed_record_in_the_worklists_order_other_than_the_open_one(
    page, spa_url, radiologist_key, api: httpx.Client, synthetic_png: bytes
):
    opened = classify_directly(api, synthetic_png)
    classify_directly(api, synthetic_png)  # so that another unreviewed record exists
    open_app(page, f"{spa_url}?sort=oldest#/records/{opened['id']}", radiologist_key)
    expect(page.get_by_test_id("review-form")).to_be_visible()
    expect(page.get_by_test_id("filter-sort")).to_have_value("oldest")
    oldest = api.get("/records", params={"review_status": "unreviewed", "sort": "oldest"}).json()
    expected = next(r["id"] for r in oldest["data"] if r["id"] != opened["id"])

    page.locator("body").press("n")

    expect(page).to_have_url(f"{spa_url}/?sort=oldest#/records/{expected}")
    expect(page.locator(f".result-card[data-record-id='{expected}']")).to_be_visible()


def test_the_worklist_filters_match_the_api_and_a_deep_link_survives_a_reload(
    page, spa_url, radiologist_key, api: httpx.Client, mri_record: dict, artifacts_dir
):
    rejected = mri_record
    api.post(f"/records/{rejected['id']}/reviews", json={"action": "reject"}).raise_for_status()
    open_app(page, spa_url, radiologist_key)
    rows = page.get_by_test_id("record-row")
    range_text = page.locator("#records-range")
    unreviewed = api.get("/records", params={"review_status": "unreviewed"}).json()["count"]
    # With this test alone, its record (rejected) may be the only one: then none is listed.
    expect(range_text).to_have_text(
        f"1–{min(unreviewed, 25)} of {unreviewed}" if unreviewed else "No records"
    )

    page.get_by_test_id("filter-review-status").select_option("rejected")
    expect(rows.first).to_have_attribute("data-record-id", str(rejected["id"]))
    count = api.get("/records", params={"review_status": "rejected"}).json()["count"]
    expect(range_text).to_have_text(f"1–{min(count, 25)} of {count}")

    page.get_by_test_id("filter-review-status").select_option("")
    page.get_by_test_id("filter-label").select_option(rejected["label"])
    today = datetime.now(UTC).date().isoformat()
    page.get_by_test_id("filter-day").fill(today)
    page.get_by_test_id("filter-sort").select_option("oldest")
    expected = api.get(
        "/records",
        params={
            "label": rejected["label"],
            "created_from": f"{today}T00:00:00Z",
            "sort": "oldest",
            "limit": 25,
        },
    ).json()
    expect(range_text).to_have_text(f"1–{len(expected['data'])} of {expected['count']}")
    expect(rows.first).to_have_attribute("data-record-id", str(expected["data"][0]["id"]))
    page.screenshot(path=artifacts_dir / "worklist-filtered.png")

    # The first row is the one the API put first; which uploads share its label depends on
    # the model, so no file name is sure to be on this page.
    rows.first.get_by_role("link").click()
    record_id = shown_record_id(page)
    assert record_id == str(expected["data"][0]["id"])
    page.reload()

    # The filters are in the address too, so the reload kept the list as it was.
    expect(page).to_have_url(re.compile(rf"\?.*sort=oldest.*#/records/{record_id}$"))
    expect(page.get_by_test_id("filter-sort")).to_have_value("oldest")
    expect(page.get_by_test_id("filter-label")).to_have_value(rejected["label"])
    expect(page.locator(f".result-card[data-record-id='{record_id}']")).to_be_visible()


def test_the_finding_and_modality_filters_ask_the_api_for_those_records(
    page, spa_url, radiologist_key, api: httpx.Client, mri_record: dict, artifacts_dir
):
    if mri_record.get("finding") is None or mri_record.get("modality") is None:
        skip_or_fail("the served model gives no finding or modality")
    finding, modality = mri_record["finding"], mri_record["modality"]
    open_app(page, spa_url, radiologist_key)
    rows = page.get_by_test_id("record-row")
    range_text = page.locator("#records-range")
    page.get_by_test_id("filter-review-status").select_option("")

    page.get_by_test_id("filter-finding").select_option(finding)
    page.get_by_test_id("filter-modality").select_option(modality)

    # In the worklist's own (triage) order.
    expected = api.get(
        "/records",
        params={"finding": finding, "modality": modality, "limit": 25, "sort": "suspicion"},
    ).json()
    assert expected["count"] >= 1
    expect(range_text).to_have_text(f"1–{len(expected['data'])} of {expected['count']}")
    expect(rows).to_have_count(len(expected["data"]))
    for index, record in enumerate(expected["data"]):
        expect(rows.nth(index)).to_have_attribute("data-record-id", str(record["id"]))
        expect(rows.nth(index).get_by_test_id("row-answer")).to_have_attribute(
            "data-finding", finding
        )
    page.screenshot(path=artifacts_dir / "worklist-finding-filter.png")

    # A modality nothing here has: an empty list that says so, not an error.
    other = "OP" if modality != "OP" else "SM"
    page.get_by_test_id("filter-modality").select_option(other)
    none = api.get("/records", params={"finding": finding, "modality": other}).json()
    if none["count"] == 0:
        expect(page.locator("#records-body")).to_contain_text("No records match")
    expect(page.get_by_test_id("error-message")).to_have_count(0)


def test_zoom_and_window_level_change_how_the_image_is_drawn(
    page, spa_url, radiologist_key, api: httpx.Client, synthetic_png: bytes
):
    record = classify_directly(api, synthetic_png)
    open_app(page, f"{spa_url}#/records/{record['id']}", radiologist_key)
    expect(page.locator(".viewer-frame img.result-img")).to_be_visible()

    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.get_by_test_id("viewer-zoom")).to_have_text("156%")
    transform = page.locator(".viewer-frame img").evaluate("img => getComputedStyle(img).transform")
    assert transform.startswith("matrix(1.5625, 0, 0, 1.5625")

    page.get_by_test_id("viewer-window").fill("51")
    page.get_by_test_id("viewer-level").fill("100")
    # Window 51 at level 100: slope 255/51 = 5, intercept 0.5 - 100/51.
    func = page.locator("#window-level feFuncR")
    expect(func).to_have_attribute("slope", "5")
    expect(func).to_have_attribute("intercept", str(round(0.5 - 100 / 51, 6)))

    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_test_id("viewer-zoom")).to_have_text("100%")
    expect(func).to_have_attribute("slope", "1")


def test_the_dashboard_shows_the_numbers_the_api_returns(
    page,
    spa_url,
    radiologist_key,
    api: httpx.Client,
    mri_record: dict,
    artifacts_dir: Path,
    page_problems,
):
    # At least one reviewed record, so there is an agreement rate to compare.
    confirmed = mri_record
    api.post(f"/records/{confirmed['id']}/reviews", json={"action": "confirm"}).raise_for_status()
    open_app(page, spa_url, radiologist_key)

    page.get_by_test_id("nav-dashboard").click()

    expect(page.get_by_test_id("dashboard-screen")).to_be_visible()
    expect(page.get_by_test_id("workspace-screen")).to_be_hidden()
    expect(page.get_by_test_id("stats-total")).to_be_visible()
    stats = api.get("/stats").json()
    assert stats["total"] >= 1
    expect(page.get_by_test_id("stats-total")).to_have_text(str(stats["total"]))
    for label, count in stats["by_label"].items():
        expect(page.locator(f"[data-testid='class-count'][data-key='{label}']")).to_have_attribute(
            "data-count", str(count)
        )
    for row in stats["agreement"]:
        rate = "—" if row["agreement_rate"] is None else f"{row['agreement_rate'] * 100:.0f}%"
        shown = page.locator(f"[data-testid='agreement-row'][data-label='{row['label']}']")
        expect(shown.get_by_test_id("agreement-rate")).to_have_text(rate)
    for day in stats["per_day"]:
        expect(
            page.locator(f"[data-testid='day-count'][data-key='{day['date']}']")
        ).to_have_attribute("data-count", str(day["count"]))
    # What the recogniser saw and the tumour-first answer, where this API counts them.
    for field, test_id in (
        ("by_finding", "finding-count"),
        ("by_modality", "modality-count"),
        ("by_body_part", "body-part-count"),
    ):
        for key, count in stats.get(field, {}).items():
            expect(page.locator(f"[data-testid='{test_id}'][data-key='{key}']")).to_have_attribute(
                "data-count", str(count)
            )
    page.screenshot(path=artifacts_dir / "dashboard.png")

    page.reload()
    expect(page.get_by_test_id("dashboard-screen")).to_be_visible()
    expect(page.get_by_test_id("stats-total")).to_have_text(str(stats["total"]))
    assert page_problems.errors == []


def test_an_integration_key_sees_its_role_and_no_review_actions(
    page, spa_url, running_app, synthetic_png: bytes
):
    headers = {"Authorization": f"Bearer {running_app.integration_key}"}
    with httpx.Client(base_url=running_app.api_url, headers=headers, timeout=30) as own:
        record = classify_directly(own, synthetic_png, source_system="PACS-EAST")

    open_app(page, f"{spa_url}#/records/{record['id']}", running_app.integration_key)

    expect(page.get_by_test_id("session-role")).to_have_text("integration")
    expect(page.get_by_test_id("review-history-empty")).to_be_visible()
    expect(page.get_by_test_id("review-form")).to_have_count(0)
    expect(page.get_by_test_id("source-system")).to_have_text("PACS-EAST")
    page.locator("body").press("c")
    expect(page.get_by_test_id("review-item")).to_have_count(0)


def test_a_pacs_records_fhir_report_downloads_through_the_api(
    page, spa_url, radiologist_key, api: httpx.Client, synthetic_png: bytes
):
    if "/records/{record_id}/fhir" not in api.get("/openapi.json").json()["paths"]:
        pytest.skip("this API has no GET /records/{id}/fhir yet")
    record = classify_directly(api, synthetic_png, source_system="PACS-WEST")
    open_app(page, f"{spa_url}#/records/{record['id']}", radiologist_key)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download FHIR report").click()

    download = download_info.value
    assert download.suggested_filename == f"record-{record['id']}-fhir.json"
    direct = api.get(f"/records/{record['id']}/fhir")
    assert Path(download.path()).read_bytes() == direct.content


def test_too_large_and_damaged_files_get_messages_that_say_what_to_do(
    page, spa_url, radiologist_key, running_app, api: httpx.Client, synthetic_png, artifacts_dir
):
    too_large = synthetic_png + b"\0" * running_app.max_upload_bytes
    damaged = synthetic_png[: len(synthetic_png) // 3]
    damaged_detail = api.post(
        "/classify", files={"file": ("cut.png", damaged, "image/png")}
    ).json()["detail"]
    open_app(page, spa_url, radiologist_key)
    error = page.get_by_role("alert").get_by_test_id("error-message")

    upload(page, "huge.png", too_large, "image/png")
    expect(error).to_contain_text("File too large.")
    page.screenshot(path=artifacts_dir / "error-413.png")

    upload(page, "cut.png", damaged, "image/png")
    expect(error).to_have_text(damaged_detail)
    expect(page.get_by_test_id("upload-item")).to_have_attribute("data-state", "failed")


def test_each_main_screen_has_no_serious_accessibility_violations(
    page, spa_url, radiologist_key, api: httpx.Client, synthetic_png: bytes
):
    page.goto(spa_url)
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    assert blocking_violations(page) == [], "sign-in screen"

    record = classify_directly(api, synthetic_png, source_system="PACS-A11Y")
    open_app(page, f"{spa_url}#/records/{record['id']}", radiologist_key)
    expect(page.get_by_test_id("review-form")).to_be_visible()
    expect(page.locator(".viewer-frame img.result-img")).to_be_visible()
    assert blocking_violations(page) == [], "record view with the worklist"

    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("stats-total")).to_be_visible()
    assert blocking_violations(page) == [], "dashboard"
