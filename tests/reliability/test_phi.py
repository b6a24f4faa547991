"""PHI: a DICOM carrying every attribute of the PS3.15 Basic Profile table, each with a
value of its own, plus private tags. After ingest none of those values is anywhere: not in
any database table, the stored blob, the API's answers, or the server's log."""

from medimg_testing.phi import (
    UPLOAD_NAME,
    dicom_whose_sop_instance_uid_swallows_the_patient,
    identified_dicom,
    lines_carrying,
)
from medimg_testing.server import LiveServer, table_dump


def test_no_identifying_value_survives_anywhere_after_ingest(live_server: LiveServer) -> None:
    upload, secrets = identified_dicom()
    assert len(secrets) > 500 and all(secret.encode() in upload for secret in secrets[:2])

    with live_server.client() as client:
        created = client.post("/classify", files={"file": (UPLOAD_NAME, upload)})
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        answers = [created.text, client.get(f"/records/{record_id}").text]
        answers += [client.get("/records").text, client.get("/audit").text]
        original = client.get(f"/records/{record_id}/original").content

    sha256 = created.json()["image_sha256"]
    blob = (live_server.storage_dir / sha256[:2] / sha256).read_bytes()
    engine = live_server.engine()
    try:
        database = table_dump(engine)
    finally:
        engine.dispose()
    places = {"database": database, "answers": "\n".join(answers), "log": live_server.log_text()}
    places |= {"blob": blob.decode("latin-1"), "original": original.decode("latin-1")}
    leaks = {
        place: [secret for secret in secrets if secret in text][:5]
        for place, text in places.items()
    }
    assert leaks == {place: [] for place in places}


def test_no_identifying_value_reaches_the_log_when_a_library_warns_about_a_damaged_file(
    live_server: LiveServer,
) -> None:
    upload, secrets = dicom_whose_sop_instance_uid_swallows_the_patient()
    log_before = len(live_server.log_text())

    with live_server.client() as client:
        response = client.post("/classify", files={"file": ("x.dcm", upload)})
    assert response.status_code in (201, 422), response.text

    log = live_server.log_text()[log_before:]
    assert "pydicom" in log, "the library's warning is still logged, without its values"
    assert lines_carrying(log, secrets) == []
