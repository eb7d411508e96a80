"""Streaming tests share the session fixture with one runtime setting the job also applies."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def streaming_sql_conf(request):
    """Apply streaming.app.RUNTIME_SQL_CONF to the shared session (only for tests that use Spark)."""
    if "spark" not in request.fixturenames:
        yield
        return
    from streaming.app import RUNTIME_SQL_CONF

    spark = request.getfixturevalue("spark")
    for key, value in RUNTIME_SQL_CONF.items():
        spark.conf.set(key, value)
    yield
