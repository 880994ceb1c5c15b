"""Settings come from the environment, with documented defaults and no constant secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, Settings


def test_defaults_put_everything_in_the_instance_folder(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={"PAPERBOY_INSTANCE_DIR": str(tmp_path)}, overrides={"INSTANCE_DIR": tmp_path})
    assert f"sqlite:///{tmp_path / 'paperboy.db'}" == settings.DATABASE_URL
    assert tmp_path / "outbox" == settings.OUTBOX_DIR
    assert settings.EMAIL_BACKEND == "outbox"
    assert settings.runs_tasks_in_process


def test_development_generates_and_keeps_a_secret_key(tmp_path: Path) -> None:
    first = Settings.from_env(environ={}, overrides={"INSTANCE_DIR": tmp_path})
    second = Settings.from_env(environ={}, overrides={"INSTANCE_DIR": tmp_path})
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(environ={"PAPERBOY_ENV": "production"}, overrides={"INSTANCE_DIR": tmp_path})
    assert not (tmp_path / "secret_key").exists()


def test_environment_values_are_typed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        environ={"SENDGRID_CONCURRENCY": "3", "HTTP_TIMEOUT_S": "2.5", "SECRET_KEY": "k" * 40},
        overrides={"INSTANCE_DIR": tmp_path},
    )
    assert settings.SENDGRID_CONCURRENCY == 3
    assert settings.HTTP_TIMEOUT_S == 2.5


def test_bad_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SENDGRID_CONCURRENCY"):
        Settings.from_env(environ={"SENDGRID_CONCURRENCY": "many"}, overrides={"INSTANCE_DIR": tmp_path})
    with pytest.raises(ConfigError, match="EMAIL_BACKEND"):
        Settings.from_env(environ={"EMAIL_BACKEND": "pigeon"}, overrides={"INSTANCE_DIR": tmp_path})
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        Settings.from_env(environ={"EMAIL_BACKEND": "sendgrid"}, overrides={"INSTANCE_DIR": tmp_path})


def test_readme_and_env_example_document_every_setting() -> None:
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    env_example = (repo / ".env.example").read_text()
    names = [n if n != "INSTANCE_DIR" else "PAPERBOY_INSTANCE_DIR" for n in Settings.__dataclass_fields__]
    missing_readme = [n for n in names if f"`{n}`" not in readme]
    missing_env = [n for n in names if n not in env_example]
    assert not missing_readme, f"settings missing from README.md: {missing_readme}"
    assert not missing_env, f"settings missing from .env.example: {missing_env}"
