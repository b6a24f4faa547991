"""The PACS as DICOMweb (QIDO-RS, WADO-RS, STOW-RS), through `dicomweb-client`.

Every failure of the PACS (unreachable, refusing, erroring, too slow) becomes a `PacsError`
carrying the HTTP status medimg answers with (502, or 504 for a timeout) and a reason a
person can act on. Credentials never appear in a message.
"""

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from dicomweb_client.api import DICOMwebClient
from dicomweb_client.session_utils import create_session, create_session_from_user_pass
from pydicom import Dataset

from api.settings import Settings

# DICOM JSON tags of the QIDO-RS answer (PS3.18 F.2).
SOP_CLASS_UID = "00080016"
SOP_INSTANCE_UID = "00080018"
MODALITY = "00080060"
SERIES_INSTANCE_UID = "0020000E"
STUDY_INSTANCE_UID = "0020000D"


@dataclass(frozen=True)
class PacsInstance:
    """One instance of a study, as the PACS's QIDO-RS search describes it."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str | None
    modality: str | None


class PacsError(Exception):
    def __init__(self, status: HTTPStatus, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class PacsClient:
    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 30.0,
    ):
        if username is not None:
            session = create_session_from_user_pass(username, password or "")
        else:
            session = create_session()
        self._client = DICOMwebClient(url, session=session, timeout=timeout_seconds)
        # Fail fast: the caller (or its user) decides whether to retry, not a hidden loop.
        self._client.set_http_retry_params(retry=False)
        self._timeout_seconds = timeout_seconds
        self._where = _address_without_credentials(url)

    def instances_of_study(self, study_uid: str) -> list[PacsInstance]:
        """QIDO-RS: every instance of the study; empty when the PACS does not have it."""
        found = self._call(
            "search the study (QIDO-RS)",
            self._client.search_for_instances,
            study_instance_uid=study_uid,
            fields=[MODALITY, SOP_CLASS_UID],
            get_remaining=True,
        )
        return [_instance_from_json(attributes, study_uid) for attributes in found]

    def retrieve(self, instance: PacsInstance) -> Dataset:
        """WADO-RS: the instance as a dataset, with its file meta."""
        return self._call(
            "retrieve an instance (WADO-RS)",
            self._client.retrieve_instance,
            instance.study_uid,
            instance.series_uid,
            instance.sop_uid,
        )

    def store(self, datasets: list[Dataset]) -> None:
        """STOW-RS; done only when the PACS holds every instance sent.

        A PACS that refuses some (FailedSOPSequence), leaves some out of its answer
        (ReferencedSOPSequence), or answers 200 and drops them anyway, has not stored the
        results: each is a failure, so that nothing is reported as pushed that the PACS does
        not hold. The last is real: Orthanc 1.10, whose Lua ReceivedInstanceFilter refuses an
        instance, still lists it as stored; so the study is searched again afterwards."""
        answer = self._call("store results (STOW-RS)", self._client.store_instances, datasets)
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            raise PacsError(
                HTTPStatus.BAD_GATEWAY,
                f"The PACS at {self._where} refused {len(failed)} of the {len(datasets)} "
                "result instances sent to it (STOW-RS FailedSOPSequence). Check its logs.",
            )
        sent = {str(dataset.SOPInstanceUID) for dataset in datasets}
        unlisted = sent - _stored_uids(answer)
        if unlisted:
            raise self._dropped(
                len(unlisted),
                len(datasets),
                "answered the store (STOW-RS) without listing them in ReferencedSOPSequence",
            )
        held = {
            instance.sop_uid
            for study_uid in {str(dataset.StudyInstanceUID) for dataset in datasets}
            for instance in self.instances_of_study(study_uid)
        }
        if sent - held:
            raise self._dropped(
                len(sent - held),
                len(datasets),
                "answered the store (STOW-RS) as done, but a search (QIDO-RS) right after "
                "does not find them",
            )

    def _dropped(self, missing: int, sent: int, how: str) -> PacsError:
        return PacsError(
            HTTPStatus.BAD_GATEWAY,
            f"The PACS at {self._where} dropped {missing} of the {sent} result instances "
            f"sent to it: it {how}. Nothing was recorded as pushed. Check the PACS's logs and "
            "any filter that refuses instances (e.g. an Orthanc Lua ReceivedInstanceFilter).",
        )

    def _call(self, what: str, operation, *args, **kwargs):
        try:
            return operation(*args, **kwargs)
        except requests.exceptions.Timeout as error:
            raise PacsError(
                HTTPStatus.GATEWAY_TIMEOUT,
                f"The PACS at {self._where} did not answer within {self._timeout_seconds:g} s "
                f"when asked to {what}. Try again later, or raise MEDIMG_PACS_TIMEOUT_SECONDS.",
            ) from error
        except requests.exceptions.HTTPError as error:
            raise PacsError(HTTPStatus.BAD_GATEWAY, self._refusal(what, error)) from error
        except requests.exceptions.RequestException as error:
            raise PacsError(
                HTTPStatus.BAD_GATEWAY,
                f"The PACS at {self._where} could not be reached to {what} "
                f"({type(error).__name__}). Check that it is running and MEDIMG_PACS_URL.",
            ) from error

    def _refusal(self, what: str, error: requests.exceptions.HTTPError) -> str:
        status = error.response.status_code if error.response is not None else None
        reason = f"HTTP {status}" if status is not None else "an HTTP error"
        detail = f"The PACS at {self._where} answered {reason} when asked to {what}."
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return f"{detail} Check MEDIMG_PACS_USERNAME and MEDIMG_PACS_PASSWORD."
        return f"{detail} Check the PACS's logs."


def _instance_from_json(attributes: dict, study_uid: str) -> PacsInstance:
    return PacsInstance(
        study_uid=_value(attributes, STUDY_INSTANCE_UID) or study_uid,
        series_uid=_required(attributes, SERIES_INSTANCE_UID),
        sop_uid=_required(attributes, SOP_INSTANCE_UID),
        sop_class_uid=_value(attributes, SOP_CLASS_UID),
        modality=_value(attributes, MODALITY),
    )


def _value(attributes: dict, tag: str) -> str | None:
    values = attributes.get(tag, {}).get("Value") or [None]
    return values[0]


def _required(attributes: dict, tag: str) -> str:
    value = _value(attributes, tag)
    if value is None:
        raise PacsError(
            HTTPStatus.BAD_GATEWAY,
            f"The PACS's QIDO-RS answer lacks the required attribute {tag}; it is not valid "
            "DICOMweb. Check the PACS's DICOMweb configuration.",
        )
    return value


def _stored_uids(answer: Dataset | None) -> set[str]:
    """The SOP Instance UIDs a STOW-RS answer lists as stored (PS3.18 10.5.3)."""
    items = answer.get("ReferencedSOPSequence") if answer is not None else None
    return {str(item.get("ReferencedSOPInstanceUID", "")) for item in items or []}


def _address_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def pacs_client_from_settings(settings: Settings) -> PacsClient:
    """The client of the configured PACS (`MEDIMG_PACS_URL` must be set)."""
    password = settings.pacs_password
    return PacsClient(
        str(settings.pacs_url),
        username=settings.pacs_username,
        password=password.get_secret_value() if password is not None else None,
        timeout_seconds=settings.pacs_timeout_seconds,
    )
