import json
import re
from pathlib import Path

import pytest

from api.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_settings_come_from_medimg_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIMG_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("MEDIMG_CORS_ORIGINS", '["http://spa.example"]')

    settings = Settings(_env_file=None)

    assert settings.max_upload_bytes == 1234
    assert settings.cors_origins == ["http://spa.example"]


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MEDIMG_STORAGE_DIR=/srv/medimg/blobs\n")

    assert Settings(_env_file=env_file).storage_dir == Path("/srv/medimg/blobs")


def test_env_example_documents_every_setting_with_its_default() -> None:
    documented = dict(
        re.findall(r"^# (MEDIMG_[A-Z_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE)
    )
    defaults = Settings(_env_file=None)

    assert set(documented) == {f"MEDIMG_{name.upper()}" for name in Settings.model_fields}
    for name in Settings.model_fields:
        example = Settings(_env_file=None, **{name: _parse(documented[f"MEDIMG_{name.upper()}"])})
        assert getattr(example, name) == getattr(defaults, name), name


def _parse(value: str) -> object:
    # Lists are JSON in the environment; everything else pydantic converts from text.
    return json.loads(value) if value.startswith("[") else value


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


@pytest.mark.parametrize(
    ("database_url", "image_store"),
    [
        ("sqlite:///var/medimg.db", "disk"),
        ("postgresql+psycopg://medimg:secret@db:5432/medimg", "database"),
        ("postgresql://medimg@db/medimg", "database"),
    ],
)
def test_images_are_kept_in_the_database_with_postgresql_and_on_disk_with_sqlite_by_default(
    database_url: str, image_store: str
) -> None:
    assert Settings(_env_file=None, database_url=database_url).image_store == image_store


def test_images_may_stay_on_disk_with_postgresql() -> None:
    settings = Settings(
        _env_file=None, database_url="postgresql://medimg@db/medimg", image_store="disk"
    )

    assert settings.image_store == "disk"


def test_images_in_an_sqlite_database_are_refused_naming_both_settings() -> None:
    with pytest.raises(ValueError, match="MEDIMG_IMAGE_STORE=database needs a PostgreSQL"):
        Settings(_env_file=None, database_url="sqlite:///var/medimg.db", image_store="database")
