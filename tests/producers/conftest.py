from __future__ import annotations

from collections.abc import Iterator

import pytest

from skyrisk.settings import Settings, load_settings
from tests.producers.helpers import FakeClock, ScriptedServer


@pytest.fixture
def api() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    """Defaults only (no .env), with a France-sized box: 12 x 12 = 144 square degrees."""
    return load_settings(_env_file=None, bbox=(42.0, -5.0, 54.0, 7.0))
