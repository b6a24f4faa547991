"""Request values that every database backend can hold, checked as they are parsed (422).

The types allow more than the databases do: an int past 64 bits overflows the driver, an
aware date-time near year 1 or 9999 has no UTC time in Python's calendar, and PostgreSQL
text cannot hold a NUL. Each of these was a 500; as these types they are the client's 422.
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

# The largest BIGINT (SQLite and PostgreSQL alike): ids and offsets past it overflow.
MAX_INT64 = 2**63 - 1


def in_utc(value: datetime) -> datetime:
    """The same instant in UTC, as stored; ValueError when UTC has no such date."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "This date-time has no UTC time within years 1 to 9999. Give a later or earlier one."
        ) from None


def without_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("Text must not contain the NUL character (\\x00).")
    return value


UtcInstant = Annotated[AwareDatetime, AfterValidator(in_utc)]
Text = Annotated[str, AfterValidator(without_nul)]
