"""Settings come from `LIPSYNC_*` variables, parsed and checked in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.settings import Settings, SettingsError


def test_variables_set_their_settings_and_the_rest_keep_defaults() -> None:
    settings = Settings.from_env({"LIPSYNC_PROXY_PORT": "9000", "LIPSYNC_ALLOW_PRIVATE_URLS": "yes",
                                  "LIPSYNC_DATA_DIR": "/srv/lipsync", "LIPSYNC_PUBLIC_URL": "https://x.test/",
                                  "LIPSYNC_LOG_FORMAT": " TEXT ", "LIPSYNC_MAX_AUDIO_SECONDS": "30"})
    assert settings.proxy_port == 9000
    assert settings.allow_private_urls is True
    assert settings.data_dir == Path("/srv/lipsync")
    assert settings.public_url == "https://x.test"
    assert settings.log_format == "text"
    assert settings.max_audio_seconds == 30.0
    assert settings.redis_url == Settings().redis_url


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="LIPSYNC_PROXY_PORT"):
        Settings.from_env({"LIPSYNC_PROXY_PORT": "eighty"})
    with pytest.raises(SettingsError, match="LIPSYNC_ALLOW_PRIVATE_URLS"):
        Settings.from_env({"LIPSYNC_ALLOW_PRIVATE_URLS": "perhaps"})


def test_secrets_never_show_and_an_empty_signing_key_stays_random() -> None:
    settings = Settings.from_env({"LIPSYNC_SIGNING_KEY": "", "LIPSYNC_ADMIN_TOKEN": "hunter2"})
    assert len(settings.signing_key) >= 32
    assert settings.admin_token == "hunter2"
    assert "hunter2" not in repr(settings)
    assert settings.with_(proxy_port=1).admin_token == "hunter2"
