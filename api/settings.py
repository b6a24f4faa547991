"""Configuration for the API, read from `MEDIMG_*` environment variables and `.env`.

Every field is documented in `.env.example` at the repository root; keep the two in step.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

# The same ceiling `ml.decode.decode_image` applies when no limit is passed.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
MIB = 1024 * 1024


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
        description="Directory where uploaded images are kept, one file per distinct content.",
    )
    model_dir: Path = Field(
        default=Path("models/brain-tumor-cnn/0.1.0"),
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
    api_host: str = Field(default="127.0.0.1", description="Interface the API server binds to.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the API server.")
    spa_port: int = Field(
        default=8080, ge=1, le=65535, description="Port the static SPA is served on."
    )


@lru_cache
def get_settings() -> Settings:
    """Read the environment once; tests pass their own `Settings` to `create_app` instead."""
    return Settings()
