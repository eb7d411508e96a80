"""Session fixtures: one throw-away service stack and one SparkSession for the whole run.

``stack`` starts the real Kafka broker, MinIO and FerretDB on free ports in a temporary
directory the first time a test asks for it, and always stops them at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra import stack as stack_manager
from skyrisk.settings import Settings


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the throw-away stack: free ports, data in a temp dir, nothing from .env."""
    return stack_manager.throwaway_settings(
        tmp_path_factory.mktemp("stack"),
        mongo_database="skyrisk_test",
        spark_master="local[2]",
        spark_shuffle_partitions=2,
        spark_driver_memory="2g",
        weather_grid_deg=0.5,  # the grid the streaming tests' messages are built on (tests/streaming/messages.py)
    )


@pytest.fixture(scope="session")
def stack(stack_settings: Settings) -> Iterator[Settings]:
    """The real services, started once, bootstrapped (topics, bucket, collections), stopped at the end."""
    try:
        stack_manager.up(stack_settings, owned=True)
        yield stack_settings
    finally:
        stack_manager.down(stack_settings)


@pytest.fixture(scope="session")
def spark(stack_settings: Settings):
    """One local SparkSession (connector jars loaded, S3A pointed at the test MinIO)."""
    from skyrisk.spark import create_spark_session

    session = create_spark_session(stack_settings, "skyrisk-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def mongo_client(stack: Settings):
    from pymongo import MongoClient

    client = MongoClient(stack.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=10_000)
    yield client
    client.close()


@pytest.fixture
def mongo_db(stack: Settings, mongo_client):
    return mongo_client[stack.mongo_database]
