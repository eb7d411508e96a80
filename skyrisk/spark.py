"""The SparkSession factory every Spark entry point uses (streaming, batch, tests).

It puts the connector jars from ``make setup`` (Kafka source, S3A + AWS SDK v2) on the
classpath before the session starts, points S3A at MinIO and tunes Spark for a small
machine. The master comes from the settings, so the same code runs on ``local[*]`` and on a
cluster (``spark://host:7077``, YARN, Kubernetes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from skyrisk.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class MissingJarsError(RuntimeError):
    pass


def connector_jars(settings: Settings) -> list[Path]:
    jars_dir = settings.resolved_spark_jars_dir
    jars = sorted(jars_dir.glob("*.jar"))
    needed = ("spark-sql-kafka", "hadoop-aws", "bundle-")
    missing = [name for name in needed if not any(j.name.startswith(name) for j in jars)]
    if missing:
        raise MissingJarsError(
            f"Spark connector jars {missing} not found in {jars_dir}; run `make setup` first"
        )
    return jars


def launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its gateway through these
    # variables; its --master and --jars must then win over our defaults.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_conf(settings: Settings, app_name: str, *, under_spark_submit: bool = False) -> dict[str, str]:
    """Every Spark setting the platform uses, as plain strings (shown in the README)."""
    s3_host = settings.s3_endpoint
    conf = {} if under_spark_submit else {
        "spark.master": settings.spark_master,
        "spark.jars": ",".join(str(j) for j in connector_jars(settings)),
    }
    conf |= {
        "spark.app.name": app_name,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.checkpointLocation": settings.resolved_checkpoint_dir,
        "spark.sql.adaptive.enabled": "true",
        # Constraint propagation explodes on the streaming job's wide validation CASE (planning
        # took minutes per micro-batch) and buys none of our plans anything.
        "spark.sql.constraintPropagation.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.hadoop.fs.s3a.endpoint": s3_host,
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3_host.startswith("https")).lower(),
        "spark.hadoop.fs.s3a.access.key": settings.s3_access_key,
        "spark.hadoop.fs.s3a.secret.key": settings.s3_secret_key.get_secret_value(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        # Fail fast instead of retrying for minutes when MinIO is down; the query restarts.
        "spark.hadoop.fs.s3a.attempts.maximum": "3",
        "spark.hadoop.fs.s3a.retry.limit": "3",
        "spark.hadoop.fs.s3a.connection.establish.timeout": "5s",
        "spark.hadoop.fs.s3a.connection.timeout": "30s",
        "spark.sql.parquet.compression.codec": "zstd",
    }
    if settings.spark_ui_port:
        conf["spark.ui.port"] = str(settings.spark_ui_port)
    else:
        conf["spark.ui.enabled"] = "false"
    if settings.spark_driver_host:
        conf["spark.driver.host"] = settings.spark_driver_host
        conf["spark.driver.bindAddress"] = "0.0.0.0"
    elif local_driver(settings, under_spark_submit):
        # Driver RPC and block manager: nothing outside this machine needs to reach a local driver.
        conf["spark.driver.bindAddress"] = LOOPBACK
        conf["spark.driver.host"] = LOOPBACK
    return conf


LOOPBACK = "127.0.0.1"


def local_driver(settings: Settings, under_spark_submit: bool) -> bool:
    """A driver with in-process executors that no other host has to reach."""
    return settings.spark_master.startswith("local") and not under_spark_submit and not settings.spark_driver_host


def driver_environment(settings: Settings, *, under_spark_submit: bool = False) -> dict[str, str]:
    """Environment of the driver JVM. Spark's web UI ignores spark.driver.bindAddress and listens on
    SPARK_LOCAL_IP, else on every interface, so a local driver gets the loopback address."""
    return {"SPARK_LOCAL_IP": LOOPBACK} if local_driver(settings, under_spark_submit) else {}


def create_spark_session(settings: Settings, app_name: str) -> "SparkSession":
    """Build (or reuse) the session; the jars must be set before the first getOrCreate()."""
    from pyspark.sql import SparkSession

    under_spark_submit = launched_by_spark_submit()
    # PySpark starts the JVM with a copy of this process's environment; an explicit SPARK_LOCAL_IP wins.
    for name, value in driver_environment(settings, under_spark_submit=under_spark_submit).items():
        os.environ.setdefault(name, value)
    builder = SparkSession.builder
    for key, value in spark_conf(settings, app_name, under_spark_submit=under_spark_submit).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
