"""What a parsing library prints about an upload reaches the log without the upload's values
(issue #29); the live-server test in tests/reliability/test_phi.py reads the real stderr."""

import logging

import pytest

from api.log_privacy import _withholding_data_warnings, keep_values_out_of_logs

PHI = "ZQDOE^JANE"


def test_a_pydicom_log_record_keeps_its_origin_but_not_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    keep_values_out_of_logs()

    with caplog.at_level(logging.WARNING):
        logging.getLogger("pydicom").warning("Invalid value for VR PN: %r", PHI)
        logging.getLogger("pydicom.pixels.utils").warning(f"value {PHI}")

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert all(PHI not in message and "withheld" in message for message in messages)
    assert messages[1].startswith("pydicom.pixels.utils WARNING")


def test_the_api_own_log_records_are_left_as_written(caplog: pytest.LogCaptureFixture) -> None:
    keep_values_out_of_logs()

    with caplog.at_level(logging.INFO):
        logging.getLogger("api.test").info("record %d stored", 7)

    assert caplog.records[-1].getMessage() == "record 7 stored"


def test_a_warning_about_data_is_shown_without_its_text_one_about_code_as_written() -> None:
    shown: list[str] = []
    show = _withholding_data_warnings(lambda message, *rest: shown.append(str(message)))

    show(
        UserWarning(f"Invalid value for VR UI: '{PHI}'"), UserWarning, "/x/pydicom/valuerep.py", 440
    )
    show(DeprecationWarning("use y"), DeprecationWarning, "/x/lib/a.py", 1)

    assert PHI not in shown[0] and "pydicom/valuerep.py:440" in shown[0]
    assert shown[1] == "use y"
