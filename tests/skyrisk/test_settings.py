"""Typed settings: environment with the prefix, .env file, validation, secrets hidden."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from skyrisk.settings import Settings, load_settings


def test_defaults_point_at_the_local_stack(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("SKYRISK_"):
            monkeypatch.delenv(key)
    settings = load_settings(_env_file=None)
    assert settings.kafka_host_port == ("127.0.0.1", 9092)
    assert settings.mongo_host_port == ("127.0.0.1", 27017)
    assert settings.s3_host_port == ("127.0.0.1", 9000)
    assert settings.spark_master == "local[*]"
    assert settings.dashboard_host == "127.0.0.1"
    assert not settings.has_live_credentials


def test_environment_and_env_file(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SKYRISK_SPARK_MASTER=spark://cluster:7077\nSKYRISK_SIM_AIRCRAFT=20000\n")
    monkeypatch.setenv("SKYRISK_SIM_AIRCRAFT", "500")  # the environment wins over .env
    monkeypatch.setenv("SKYRISK_BBOX", "45,5,55,15")
    settings = load_settings(_env_file=env_file)
    assert settings.spark_master == "spark://cluster:7077"
    assert settings.sim_aircraft == 500
    assert settings.bbox == (45.0, 5.0, 55.0, 15.0)


@pytest.mark.parametrize("bbox", ["1,2,3", "60,0,50,10", "0,10,5,5", "0,0,100,10"])
def test_bad_bounding_boxes_are_refused(bbox):
    with pytest.raises(ValidationError):
        Settings(_env_file=None, bbox=bbox)


def test_secrets_never_show_in_repr_or_str():
    settings = Settings(_env_file=None, opensky_client_id="me", opensky_client_secret="hunter2-secret",
                        s3_secret_key="s3-very-secret")
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings)
    assert "s3-very-secret" not in repr(settings)
    assert settings.has_live_credentials


def test_settings_survive_the_round_trip_through_a_child_environment(tmp_path, monkeypatch):
    settings = load_settings(
        _env_file=None, data_dir=tmp_path, bbox="40,-10,60,20", mongo_uri="mongodb://u:p@h:1/",
        opensky_client_id="id", opensky_client_secret="s3cret", trigger_seconds=2.5,
    )
    env = settings.as_environment()
    assert env["SKYRISK_BBOX"] == "40.0,-10.0,60.0,20.0"
    assert env["SKYRISK_OPENSKY_CLIENT_SECRET"] == "s3cret"
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def plain(s: Settings) -> dict:
        return {k: (v.get_secret_value() if hasattr(v, "get_secret_value") else v) for k, v in s}

    assert plain(Settings(_env_file=None)) == plain(settings)


@pytest.mark.parametrize(("variable", "value"), [("SKYRISK_WEATHER_GRID_DEG", "0"), ("SKYRISK_WEATHER_GRID_DEG", "0.01"),
                                                  ("SKYRISK_LIVE_EXPIRY_MINUTES", "-5"), ("SKYRISK_TRIGGER_SECONDS", "0"),
                                                  ("SKYRISK_WEATHER_MAX_AGE_MINUTES", "0"),
                                                  ("SKYRISK_WEATHER_MAX_AGE_MINUTES", "2000")])
def test_a_setting_out_of_range_stops_the_entry_point_with_one_line_naming_it(monkeypatch, capsys, variable, value):
    """Before: a 0° grid divided by zero, a 0.01° grid built 11.9 M cells, a negative expiry deleted every live flight."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {variable}=")
