"""Settings from the environment (``load_settings``): the names, values and errors the
``TRACEHOP_`` variables gave with pydantic-settings, read without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracehop.errors import ConfigError
from tracehop.settings import load_settings, settings_from_env


def test_variables_are_read_by_name_in_any_case_and_others_ignored(tmp_path: Path) -> None:
    env = {
        "TRACEHOP_THREADS": "4",
        "tracehop_provider": "acme",
        "TRACEHOP_SESSION_SECURE": "yes",
        "TRACEHOP_NODE_RATE": "12.5",
        "TRACEHOP_LAKE_SECRET": "s3cret",
        "TRACEHOP_NOT_A_SETTING": "1",
        "HOME": "/root",
    }
    assert settings_from_env(env) == {
        "threads": "4",
        "provider": "acme",
        "session_secure": "yes",
        "node_rate": "12.5",
        "lake_secret": "s3cret",
    }
    s = load_settings(environ=env, home=tmp_path)
    assert (s.threads, s.provider, s.session_secure, s.node_rate) == (4, "acme", True, 12.5)
    assert s.lake_secret is not None and s.lake_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.home == tmp_path


def test_options_win_over_the_environment_and_none_is_no_option(tmp_path: Path) -> None:
    env = {"TRACEHOP_PROVIDER": "from-env", "TRACEHOP_TIMEZONE": "America/Chicago"}
    s = load_settings(environ=env, home=tmp_path, provider="from-option", timezone=None)
    assert (s.provider, s.timezone) == ("from-option", "America/Chicago")


def test_empty_environment_gives_the_defaults() -> None:
    s = load_settings(environ={})
    assert (s.home, s.threads, s.timezone, s.engine) == (Path("tracehop-home"), 0, "UTC", "duckdb")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TRACEHOP_THREADS": "many"},
            "setting threads: Input should be a valid integer, unable to parse string as an "
            "integer",
        ),
        ({"TRACEHOP_NODE_RATE": "0"}, "setting node_rate: Input should be greater than 0"),
        (
            {"TRACEHOP_TIMEZONE": "Mars/Olympus"},
            "setting timezone: unknown time zone 'Mars/Olympus': use an IANA name such as "
            "America/New_York",
        ),
        (
            {"TRACEHOP_ENGINE": "sparky"},
            "setting engine: unknown engine 'sparky': use duckdb or spark",
        ),
    ],
)
def test_a_bad_value_is_a_one_line_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ=env)
    assert str(exc.value) == message
