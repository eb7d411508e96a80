"""The join's maximum weather age, derived from where the weather comes from."""

from __future__ import annotations

from skyrisk.settings import load_settings
from skyrisk.weather import SIMULATED_MAX_AGE_MINUTES, max_age_minutes, quota_max_age_minutes


def test_the_quota_age_is_the_busy_share_of_the_grid_per_day_in_whole_slots():
    # 1,188 cells (Europe at 1°) x 0.7 / 10,000 a day = 0.0832 days = 119.8 min -> 120
    assert quota_max_age_minutes(1188, 10_000) == 120
    assert quota_max_age_minutes(4752, 10_000) == 480  # 479.0 min at 0.5°
    assert quota_max_age_minutes(308, 10_000) == 45  # 31.0 min at 2° -> 45
    assert quota_max_age_minutes(10, 10_000) == 15  # never below one 15-minute slot
    assert quota_max_age_minutes(1188, 100_000) == 15  # a paid quota keeps the weather fresh


def test_live_and_replayed_weather_take_the_quota_age_the_simulator_an_hour_a_setting_wins():
    europe = load_settings(_env_file=None)
    assert europe.weather_grid_deg == 1.0
    assert max_age_minutes(europe) == SIMULATED_MAX_AGE_MINUTES == 60  # no credentials: the simulator
    assert max_age_minutes(europe, "live") == 120
    assert max_age_minutes(europe.model_copy(update={"producer_mode": "replay"})) == 120
    assert max_age_minutes(europe.model_copy(update={"weather_grid_deg": 0.5}), "live") == 480
    assert max_age_minutes(europe.model_copy(update={"weather_max_age_minutes": 30}), "live") == 30
    creds = load_settings(_env_file=None, opensky_client_id="id", opensky_client_secret="secret")
    assert creds.resolved_producer_mode == "live" and max_age_minutes(creds) == 120
