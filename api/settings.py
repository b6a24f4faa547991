"""Configuration for the API, read from `MEDIMG_*` environment variables and `.env`.

Every field is documented in `.env.example` at the repository root; keep the two in step.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The same ceiling `ml.decode.decode_image` applies when no limit is passed.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
MIB = 1024 * 1024
GIB = 1024 * MIB
# Public, so hashes made with it protect nothing: every deployment sets its own.
DEFAULT_UID_HASH_SALT = "medimg-default-uid-salt-change-me"
# An admin key must be as hard to guess as a generated one (32 random bytes).
MIN_BOOTSTRAP_KEY_LENGTH = 32
# PS3.5 6.2 (AE VR): at most 16 characters, no backslash or control character.
AE_TITLE_PATTERN = r"^[^\\\x00-\x1f]{1,16}$"
DICOM_DESTINATION_FIELDS = (
    "dicom_destination_ae_title",
    "dicom_destination_host",
    "dicom_destination_port",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEDIMG_",
        env_file=".env",
        env_file_encoding="utf-8",
        # Other tools share the MEDIMG_ prefix (e.g. MEDIMG_DATA_DIR); they are not ours.
        extra="ignore",
    )

    database_url: str = Field(
        default="sqlite:///var/medimg.db",
        description=(
            "SQLAlchemy URL of the records database: `sqlite:///path.db` or "
            "`postgresql+psycopg://user:password@host:5432/dbname`."
        ),
    )
    storage_dir: Path = Field(
        default=Path("var/blobs"),
        description=(
            "Directory where uploaded images are kept, one file per distinct content, when "
            "they are kept on disk (`image_store`)."
        ),
    )
    image_store: Literal["disk", "database"] | None = Field(
        default=None,
        description=(
            "Where uploaded images are kept: `disk` (files under `storage_dir`) or `database` "
            "(a table of the PostgreSQL database, so API replicas share nothing but the "
            "database; PostgreSQL only). Unset: `database` with PostgreSQL, `disk` otherwise."
        ),
    )
    model_dir: Path = Field(
        default=Path("models/brain-tumor-cnn/0.12.0"),
        description="Exported model directory (SavedModel + metadata.json) loaded at startup.",
    )
    cors_origins: list[str] = Field(
        default=["http://127.0.0.1:8080", "http://localhost:8080"],
        description="Browser origins allowed to call the API (the SPA). JSON list in env.",
    )
    max_upload_bytes: PositiveInt = Field(
        default=20 * MIB,
        description="Largest accepted upload in bytes; bigger files get 413.",
    )
    max_image_pixels: PositiveInt = Field(
        default=DEFAULT_MAX_IMAGE_PIXELS,
        description="Largest accepted image in pixels (width × height × frames); more gets 413.",
    )
    max_decode_bytes: PositiveInt = Field(
        default=256 * MIB,
        description=(
            "Most memory decoding one image may take, told from its header before any pixel "
            "is decoded: pixels × channels × bytes per sample, with the decode's working "
            "copies. More gets 413 (a 16-bit RGBA 6000×6000 PNG needs about 1 GiB)."
        ),
    )
    decode_memory_bytes: PositiveInt = Field(
        default=1 * GIB,
        description=(
            "Most memory all the decodes in progress in one worker process may take together; "
            "an image that would pass it is answered 503 with Retry-After, so no mix of "
            "legal-but-costly uploads exhausts the server."
        ),
    )
    inference_max_batch_size: PositiveInt = Field(
        default=32,
        description="Most images one model call classifies; concurrent requests share calls.",
    )
    inference_max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        description=(
            "How long the first image of a batch waits for others to join it, in ms, while "
            "other classifications are in progress (a lone request never waits); images "
            "that queue while the model runs join the next call anyway."
        ),
    )
    inference_queue_size: PositiveInt = Field(
        default=128,
        description=(
            "Most images waiting for the model; beyond it requests get 503 with Retry-After "
            "at once instead of piling up."
        ),
    )
    max_classifications_in_progress: PositiveInt = Field(
        default=64,
        description=(
            "Most classification requests handled at once (receiving, decoding, waiting for "
            "the model, storing); one more is answered 503 with Retry-After before its body "
            "is read."
        ),
    )
    max_uploads_per_caller: PositiveInt = Field(
        # Half the slots: a PACS gateway sending a study at once still gets most of them.
        default=32,
        description=(
            "Most classification requests one API key, and one client address, may have in "
            "progress at once; one more is answered 503, so no caller takes every slot."
        ),
    )
    upload_idle_timeout_s: PositiveFloat = Field(
        default=30.0,
        description="Longest wait for the next part of an upload's body; longer gets 408.",
    )
    upload_min_bytes_per_s: PositiveInt = Field(
        default=16 * 1024,
        description=(
            "Slowest average rate an upload's body may arrive at once it has taken "
            "`upload_idle_timeout_s`; slower gets 408, so a trickle cannot hold a slot."
        ),
    )
    api_host: str = Field(default="127.0.0.1", description="Interface the API server binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the API server.")
    spa_port: int = Field(
        default=8080, ge=1, le=65535, description="Port the static SPA is served on."
    )
    uid_hash_salt: SecretStr = Field(
        default=SecretStr(DEFAULT_UID_HASH_SALT),
        description=(
            "Secret key of the HMAC-SHA256 kept instead of each DICOM Study/Series/SOP "
            "Instance UID; share it only with systems that must find records by UID. "
            "Set your own: the default is public."
        ),
    )
    max_batch_files: PositiveInt = Field(
        default=20, description="Most files one POST /classify/batch may carry; more gets 413."
    )
    pacs_url: str | None = Field(
        default=None,
        description=(
            "DICOMweb root of the PACS that POST /pacs/studies/{uid}/classify pulls from and "
            "pushes results to, e.g. `https://pacs.example.org/dicom-web`; unset: no PACS."
        ),
    )
    pacs_username: str | None = Field(
        default=None, description="HTTP basic-auth user name for the PACS; unset: none."
    )
    pacs_password: SecretStr | None = Field(
        default=None, description="HTTP basic-auth password for the PACS; unset: none."
    )
    pacs_timeout_seconds: PositiveFloat = Field(
        default=30.0,
        description="How long one PACS request may take before the pull fails with 504.",
    )
    pacs_source_system: str = Field(
        default="pacs",
        min_length=1,
        max_length=128,
        description="`source_system` of the records made from PACS images (e.g. its AE title).",
    )
    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis that holds the job queue (PACS study pulls), e.g. "
            "`redis://redis:6379/0`; jobs are then done by `python -m api.worker` processes. "
            "Unset: jobs run in a background thread of the API process, and are lost with it."
        ),
    )
    job_queue_name: str = Field(
        default="medimg",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description=(
            "Prefix of the Redis queues (one per job kind, `<prefix>:<kind>`): deployments "
            "sharing one Redis need different ones."
        ),
    )
    job_timeout_seconds: PositiveInt = Field(
        default=3600, description="Longest a job may run; then it fails as timed out."
    )
    job_keep_seconds: PositiveInt = Field(
        default=7 * 24 * 3600,
        description="How long a finished or failed job's state stays readable (GET /jobs/{id}).",
    )
    job_abandoned_after_seconds: int = Field(
        default=60,
        ge=2,
        description=(
            "A worker proves every quarter of this that it is still doing its job; a job "
            "without that proof for this long (its worker was killed) is queued again."
        ),
    )
    job_retries: int = Field(
        default=3,
        ge=0,
        description=(
            "How often a job whose worker died is queued again before it fails. A job that "
            "fails by itself (PACS error, refused instance) is not retried."
        ),
    )
    dicom_enabled: bool = Field(
        default=False,
        description=(
            "Run the DICOM listener (C-ECHO and C-STORE SCP) inside the API process. Off for "
            "`python -m api` alone; `make run` and the container turn it on."
        ),
    )
    dicom_ae_title: str = Field(
        default="MEDIMG",
        pattern=AE_TITLE_PATTERN,
        description="The listener's AE title, which modalities and the PACS send to.",
    )
    dicom_host: str = Field(
        default="127.0.0.1", description="Interface the DICOM listener binds to."
    )
    dicom_port: int = Field(
        default=11112, ge=1, le=65535, description="TCP port of the DICOM listener."
    )
    dicom_study_quiet_seconds: PositiveFloat = Field(
        default=30.0,
        description=(
            "A study received by the listener is complete once this many seconds pass "
            "without a new instance of it; its results are then sent to the destination."
        ),
    )
    dicom_destination_ae_title: str | None = Field(
        default=None,
        pattern=AE_TITLE_PATTERN,
        description=(
            "AE title of the node (usually the PACS) that receives the SR and heatmap of "
            "each completed study by C-STORE; unset, with its host and port: none."
        ),
    )
    dicom_destination_host: str | None = Field(
        default=None, description="Host name or address of the result destination."
    )
    dicom_destination_port: int | None = Field(
        default=None, ge=1, le=65535, description="DICOM port of the result destination."
    )
    bootstrap_admin_key: SecretStr | None = Field(
        default=None,
        description=(
            "At start-up, if the database has no API key at all, this value becomes an admin "
            f"key. At least {MIN_BOOTSTRAP_KEY_LENGTH} random characters; unset or empty: none."
        ),
    )
    server_timing: bool = Field(
        default=False,
        description=(
            "Add a Server-Timing header to each classification (decode, model, storage, "
            "database… in ms): for benchmarks and for finding where a slow answer went."
        ),
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How long a server trusts an API key it has verified before looking it up in the "
            "database again. A key revoked through this server stops working at once; one "
            "revoked through another replica or the CLI, within this time. 0 looks every "
            "request's key up."
        ),
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=0,
        description=(
            "Most requests one API key may make in any 60 s (per worker process); more get "
            "429 with Retry-After, other keys are not affected. 0 turns the limit off."
        ),
    )

    @field_validator("pacs_url", "pacs_username", "pacs_password", "redis_url", mode="before")
    @classmethod
    def _blank_pacs_setting_is_none(cls, value: object) -> object:
        # `MEDIMG_PACS_URL=` in a .env means "no PACS", not an empty address.
        if value is None or str(value).strip() == "":
            return None
        return value

    @field_validator(*DICOM_DESTINATION_FIELDS, mode="before")
    @classmethod
    def _blank_destination_setting_is_none(cls, value: object) -> object:
        # `MEDIMG_DICOM_DESTINATION_HOST=` in a .env or compose file means "no destination".
        if value is None or str(value).strip() == "":
            return None
        return value

    @field_validator("image_store", mode="before")
    @classmethod
    def _blank_image_store_is_unset(cls, value: object) -> object:
        # `MEDIMG_IMAGE_STORE=` in a .env means "the default for the database", not a value.
        if value is None or str(value).strip() == "":
            return None
        return value

    @model_validator(mode="after")
    def _image_store_for_the_database(self) -> "Settings":
        on_postgresql = is_postgresql_url(self.database_url)
        if self.image_store is None:
            self.image_store = "database" if on_postgresql else "disk"
        elif self.image_store == "database" and not on_postgresql:
            raise ValueError(
                "MEDIMG_IMAGE_STORE=database needs a PostgreSQL MEDIMG_DATABASE_URL; with "
                "SQLite, images are kept on disk (MEDIMG_IMAGE_STORE=disk)"
            )
        return self

    @field_validator("dicom_ae_title", "dicom_destination_ae_title")
    @classmethod
    def _ae_title_is_not_blank(cls, value: str | None) -> str | None:
        # Leading and trailing spaces are padding in DICOM (PS3.5 6.2): all spaces is nothing.
        if value is not None and not value.strip():
            raise ValueError("an AE title needs at least one character that is not a space")
        return value

    @model_validator(mode="after")
    def _whole_dicom_destination_or_none(self) -> "Settings":
        # A destination without its port or AE title could only fail at the first study.
        given = [name for name in DICOM_DESTINATION_FIELDS if getattr(self, name) is not None]
        if given and len(given) != len(DICOM_DESTINATION_FIELDS):
            missing = sorted(set(DICOM_DESTINATION_FIELDS) - set(given))
            raise ValueError(
                "the DICOM result destination needs its AE title, host and port together; "
                f"missing: {', '.join('MEDIMG_' + name.upper() for name in missing)}"
            )
        return self

    @field_validator("bootstrap_admin_key", mode="before")
    @classmethod
    def _strong_bootstrap_key_or_none(cls, value: object) -> object:
        if value is None or str(value).strip() == "":
            return None  # `MEDIMG_BOOTSTRAP_ADMIN_KEY=` in a .env means "no bootstrap key"
        if len(str(value)) < MIN_BOOTSTRAP_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_BOOTSTRAP_KEY_LENGTH} characters; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value


def is_postgresql_url(database_url: str) -> bool:
    try:
        return make_url(database_url).get_backend_name() in ("postgresql", "postgres")
    except ArgumentError:
        return False  # not a URL at all: the engine says so when it is created


@lru_cache
def get_settings() -> Settings:
    """Read the environment once; tests pass their own `Settings` to `create_app` instead."""
    return Settings()
