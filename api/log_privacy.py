"""No element value of an uploaded file reaches the log, whatever a library prints.

pydicom quotes the value it failed to validate ("Invalid value for VR UI: '1.2…PATIENT
NAME…'"), both as a warning and on its "pydicom" logger: a file with one damaged length field
then writes the names, IDs and dates it swallowed to stderr. Such messages keep their level,
category and place in the source, which is what an operator needs to find the cause; their
text is withheld. Warnings about code (deprecations) quote no data and are left as written.
"""

import logging
import os
import warnings
from collections.abc import Callable

# Loggers of the libraries that parse uploads (and their children, e.g. pydicom.pixels.*).
PARSING_LOGGERS = ("pydicom", "highdicom", "PIL")
# Warnings about the code, never about data, so their text stays.
CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning)
WITHHELD = "text withheld: a message about input data may quote its identifying values"

_installed = False


def keep_values_out_of_logs() -> None:
    """Install once per process; idempotent, so every app may call it."""
    global _installed
    if _installed:
        return
    _installed = True
    warnings.showwarning = _withholding_data_warnings(warnings.showwarning)
    # At record creation rather than as a logger's filter: a filter on "pydicom" does not
    # see the records of its children (pydicom.pixels.*), nor of loggers made after it.
    logging.setLogRecordFactory(_withholding_library_text(logging.getLogRecordFactory()))


def _withholding_library_text(
    make: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _is_parsing_logger(record.name):
            where = f"{record.module}:{record.lineno}"
            record.msg = f"{record.name} {record.levelname} at {where} ({WITHHELD})"
            record.args = ()
            record.exc_info = None  # an exception's message may quote values too
        return record

    return make_record


def _is_parsing_logger(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in PARSING_LOGGERS)


def _withholding_data_warnings(show: Callable[..., None]) -> Callable[..., None]:
    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, CODE_WARNINGS):
            where = os.path.basename(os.path.dirname(filename)) + "/" + os.path.basename(filename)
            message = f"{category.__name__} from {where}:{lineno} ({WITHHELD})"
        show(message, category, filename, lineno, file, line)

    return show_warning
