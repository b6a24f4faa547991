"""PHI: a DICOM carrying every attribute of the PS3.15 Basic Profile table, each with a
value of its own, plus private tags. After ingest none of those values is anywhere: not in
any database table, the stored blob, the API's answers, or the server's log."""

import datetime
import io

import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from api.deidentify import _profile_rows
from medimg_testing.server import LiveServer, table_dump

PRIVATE_CREATOR = "ZQVENDORX"
PRIVATE_VALUE = "ZQPRIVATEX^NOTE"
UPLOAD_NAME = "ZQFILENAMEX^Patient.dcm"
# Binary or enumerated values: set on the file, but not searchable as text.
UNSEARCHABLE_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "AS", "SQ"}
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE", "CS", "UR"}


def distinctive_value(vr: str, n: int) -> object:
    """A value valid for `vr`, unique to attribute number `n`, never a dummy the profile uses."""
    token = f"ZQ{n:04d}X"
    day = datetime.date(1901, 1, 1) + datetime.timedelta(days=37 * n)
    values = {
        "DA": day.strftime("%Y%m%d"),
        "TM": f"1122{n % 60:02d}.{n:06d}",
        "DT": day.strftime("%Y%m%d") + f"1122{n % 60:02d}.{n:06d}",
        "UI": f"1.2.826.0.1.3680043.99.777.{n}",
        "DS": f"9{n:03d}.75319",
        "IS": f"9{n:04d}3",
        "AS": f"{n % 99:03d}D",
        "US": 7000 + n,
        "OB": token.encode(),
        "UN": token.encode(),
        "PN": f"{token}^PATIENT",
    }
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = f"{token}-ITEM"
        return Sequence([item])
    return values.get(vr, token)


def profile_attributes() -> list[tuple[int, str]]:
    """(tag, VR) of every listed attribute that can sit in a dataset (not group 0000/0002)."""
    attributes = []
    for tag_text, _ in _profile_rows():
        hex_tag = tag_text.strip("()").replace(",", "").replace("X", "0")
        tag = int(hex_tag, 16)
        if tag >> 16 in (0x0000, 0x0002):
            continue
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            continue
        attributes.append((tag, vr))
    return attributes


def identified_dicom() -> tuple[bytes, list[str]]:
    """The file, and every value in it that must not survive as searchable text."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    secrets = [PRIVATE_CREATOR, PRIVATE_VALUE, "ZQFILENAMEX"]
    for n, (tag, vr) in enumerate(profile_attributes(), start=1):
        value = distinctive_value(vr, n)
        dataset.add_new(tag, vr, value)
        if vr not in UNSEARCHABLE_VRS:
            secrets.append(value.decode() if isinstance(value, bytes) else str(value))
        elif vr == "SQ":
            secrets.append(f"ZQ{n:04d}X-ITEM")
    block = dataset.private_block(0x0011, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", PRIVATE_VALUE)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), secrets


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


def dicom_whose_sop_instance_uid_swallows_the_patient() -> tuple[bytes, list[str]]:
    """A PHI-bearing file with one damaged length field: SOP Instance UID's length also
    covers every element after it up to the Patient's Sex (institution, referring physician,
    patient name, ID, birth date), so pydicom reads one invalid UI value made of them all
    and warns, quoting it. Returns the file and the values no log may show."""
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    identifying = {
        "InstitutionName": "ZQHOSPITALX",
        "ReferringPhysicianName": "ZQREFERRERX^DOCTOR",
        "PatientName": "ZQDAMAGEDX^PATIENT",
        "PatientID": "ZQID4711X",
        "PatientBirthDate": "19360229",
    }
    for keyword, value in identifying.items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    uid = data.index(b"\x08\x00\x18\x00UI")
    sex = data.index(b"\x10\x00\x40\x00CS")
    length = (sex - uid - 8).to_bytes(2, "little")
    damaged = data[: uid + 6] + length + data[uid + 8 :]
    return damaged, [value.split("^")[0] for value in identifying.values()]


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
    assert [secret for secret in secrets if secret in log] == []
