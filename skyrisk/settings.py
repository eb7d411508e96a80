"""Typed settings for every entry point.

Read once per process with :func:`load_settings` (environment variables with the
``SKYRISK_`` prefix, then ``.env``) and passed down; business code never reads the
environment itself. Defaults point at the local stack started by ``make up``.
"""

from __future__ import annotations

import sys

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "SKYRISK_"


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    """Split ``host:port`` (or a URL) into its parts."""
    if "://" not in address:
        address = "//" + address
    parts = urlsplit(address)
    return parts.hostname or "127.0.0.1", parts.port or default_port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- where things live --------------------------------------------------------------------
    data_dir: Path = Field(Path(".data"), description="Service data, logs, pid files, checkpoints.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "skyrisk",
        description="Downloads and builds (jars, Go binaries, uv cache); outside the repo.",
    )
    bind_host: str = Field("127.0.0.1", description="Address every local service listens on.")

    # --- Kafka --------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Broker address for clients.")
    kafka_controller_port: int = Field(9093, description="KRaft controller port of the local broker.")
    kafka_heap: str = Field("1g", description="Max heap of the local broker JVM.")

    # --- MinIO / S3 ---------------------------------------------------------------------------
    s3_endpoint: str = Field("http://127.0.0.1:9000", description="S3 endpoint (MinIO).")
    s3_console_port: int = Field(9001, description="MinIO web console port of the local server.")
    s3_access_key: str = Field("skyrisk", description="S3 access key (MinIO root user locally).")
    s3_secret_key: SecretStr = Field(
        SecretStr("skyrisk-local-secret"), description="S3 secret key (MinIO root password locally)."
    )
    s3_region: str = Field("us-east-1", description="S3 region name.")
    lake_bucket: str = Field("skyrisk-lake", description="Bucket holding the Parquet lake and models.")

    # --- MongoDB (FerretDB locally) -----------------------------------------------------------
    mongo_uri: SecretStr = Field(
        SecretStr("mongodb://127.0.0.1:27017/"), description="MongoDB connection string."
    )
    mongo_database: str = Field("skyrisk", description="Database name.")

    # --- Spark --------------------------------------------------------------------------------
    spark_master: str = Field("local[*]", description="local[*], spark://host:7077, yarn, k8s://...")
    spark_driver_memory: str = Field("2g", description="Driver memory (local mode: all of Spark).")
    spark_shuffle_partitions: int = Field(4, description="spark.sql.shuffle.partitions.")
    spark_ui_port: int = Field(4040, description="Spark UI port (0 disables the UI).")
    spark_driver_host: str | None = Field(
        None, description="Address executors use to reach the driver (cluster mode, e.g. in compose)."
    )
    spark_jars_dir: Path | None = Field(
        None, description="Connector jars; default <cache_dir>/jars/spark (from make setup)."
    )
    checkpoint_dir: str | None = Field(
        None, description="Streaming checkpoints; default <data_dir>/checkpoints (local disk)."
    )

    # --- producers ----------------------------------------------------------------------------
    producer_mode: Literal["sim", "live", "replay"] | None = Field(
        None, description="Mode `make run` uses; default live when credentials are set, else sim."
    )
    producer_replay_dir: Path | None = Field(
        None, description="Recordings `make run` replays in mode replay (one pass, stamped with the time sent): a folder "
        "holding opensky/, weather/, lufthansa/ as `--record DIR` writes them."
    )
    opensky_client_id: str | None = Field(None, description="OpenSky OAuth2 client id.")
    opensky_client_secret: SecretStr | None = Field(None, description="OpenSky OAuth2 secret.")
    opensky_tier: Literal["anonymous", "standard", "feeder"] = Field(
        "standard", description="Account tier for the daily credit budget (used when authenticated)."
    )
    # NoDecode: "35,-12,62,32" from the environment is parsed by _parse_bbox, not as JSON.
    bbox: Annotated[tuple[float, float, float, float], NoDecode] = Field(
        (35.0, -12.0, 62.0, 32.0), description="lamin,lomin,lamax,lomax of the region (Europe)."
    )
    # Bounded: 0 divides by zero, 0.01° is ~12 M cells over Europe (the sweep and the join table explode).
    # 1° by default: the free Open-Meteo quota keeps weather where the traffic is at most 2 h old at
    # 1°, 8 h at 0.5° (skyrisk.weather, bench/producers/bench_weather_plan.py).
    weather_grid_deg: float = Field(1.0, ge=0.1, le=10.0, description="Weather grid cell size in degrees (0.1-10).")
    lufthansa_client_id: str | None = Field(None, description="Lufthansa Open API client id.")
    lufthansa_client_secret: SecretStr | None = Field(None, description="Lufthansa Open API secret.")
    sim_aircraft: int = Field(2000, description="Aircraft the simulator flies.")
    sim_seed: int = Field(42, description="Simulator random seed.")
    sim_emergency_rate: float = Field(0.002, description="Share of simulated flights squawking 7500/7600/7700.")
    sim_erratic_rate: float = Field(0.003, description="Share of simulated flights with extreme climb/speed.")
    sim_storms: int = Field(12, description="Moving storm cells in the simulated weather.")
    sim_weather_interval_s: float = Field(60.0, description="Seconds between simulated weather updates.")
    opensky_api_url: str = Field("https://opensky-network.org/api", description="OpenSky REST base URL.")
    opensky_token_url: str = Field(
        "https://auth.opensky-network.org/auth/realms/opensky-network/protocol/openid-connect/token",
        description="OpenSky OAuth2 token endpoint.",
    )
    open_meteo_url: str = Field("https://api.open-meteo.com/v1/forecast", description="Open-Meteo forecast URL.")
    open_meteo_daily_locations: int = Field(10_000, description="Open-Meteo free quota: locations per day.")
    lufthansa_api_url: str = Field("https://api.lufthansa.com/v1", description="Lufthansa Open API base URL.")
    lufthansa_routes: str = Field(
        "FRA-JFK,FRA-ORD,FRA-LHR,FRA-CDG,FRA-MAD,FRA-BCN,FRA-FCO,FRA-VIE,FRA-BER,FRA-HAM,FRA-ARN,FRA-ATH,"
        "MUC-JFK,MUC-LHR,MUC-CDG,MUC-MAD,MUC-FCO,MUC-BER,MUC-HAM,MUC-DUS,MUC-LIS,MUC-CPH",
        description="Comma-separated origin-destination pairs whose schedules are fetched.",
    )
    lufthansa_horizon_days: int = Field(7, description="Days ahead of today whose schedules are fetched.")
    producer_status_interval_s: float = Field(10.0, description="Seconds between producer status lines.")

    # --- streaming ----------------------------------------------------------------------------
    weather_max_age_minutes: int | None = Field(
        None, ge=1, le=24 * 60,
        description="Oldest weather joined to a flight (minutes); default: with live or replayed weather what the "
        "Open-Meteo quota allows over the grid (120 at 1° over Europe), with the simulator 60.",
    )
    live_expiry_minutes: int = Field(5, ge=1, le=24 * 60, description="At least this long unseen before an aircraft leaves flights_live (longer when the source polls less often: 2 poll intervals).")
    trigger_seconds: float = Field(2.0, gt=0, le=600, description="Micro-batch trigger interval.")

    # --- batch --------------------------------------------------------------------------------
    batch_time_utc: str = Field("02:30", description="Nightly batch start (HH:MM, UTC).")
    batch_flight_gap_minutes: int = Field(
        15, description="A track silent longer than this starts a new flight (batch summaries)."
    )
    batch_catchup_days: int = Field(7, description="How far back the scheduler catches up missed days.")
    batch_lock_ttl_s: float = Field(
        300.0, gt=0, description="Lease of a day being consolidated: a run that stops renewing it (crashed) loses it after this."
    )
    batch_enriched_retention_days: int = Field(
        7, ge=0, description="Days the enriched (streaming) Parquet of a consolidated day is kept after the day ended; 0 keeps it forever."
    )

    # --- dashboard ----------------------------------------------------------------------------
    dashboard_host: str = Field("127.0.0.1", description="Dashboard bind address.")
    dashboard_port: int = Field(8050, description="Dashboard port.")
    dashboard_mongo_uri: SecretStr | None = Field(
        None, description="MongoDB connection string of the dashboard (a user with the read role); default SKYRISK_MONGO_URI."
    )
    dashboard_s3_access_key: str = Field(
        "skyrisk-dashboard", description="S3 access key of the dashboard: a read-only MinIO user on the lake, created by `make up`."
    )
    dashboard_s3_secret_key: SecretStr = Field(
        SecretStr("skyrisk-dashboard-local-secret"), description="S3 secret key of the dashboard's read-only user."
    )
    dashboard_allowed_hosts: str = Field(
        "", description="Extra Host names the dashboard answers (comma-separated); localhost, 127.0.0.1, ::1 and its bind address always."
    )

    # --- logs (infra: the services and the platform's processes) -------------------------------
    log_max_mb: float = Field(
        10.0, gt=0, description="Size of one log file before it is rotated (MB); per service and component."
    )
    log_backups: int = Field(3, ge=1, le=20, description="Rotated log files kept per log (name.log.1 is the newest).")

    @field_validator("bbox", mode="before")
    @classmethod
    def _parse_bbox(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").split(",") if p.strip()]
            if len(parts) != 4:
                raise ValueError("bbox needs four numbers: lamin,lomin,lamax,lomax")
            return tuple(float(p) for p in parts)
        return value

    @field_validator("bbox")
    @classmethod
    def _check_bbox(cls, value: tuple[float, float, float, float]) -> tuple[float, ...]:
        lamin, lomin, lamax, lomax = value
        if not (-90 <= lamin < lamax <= 90 and -180 <= lomin < lomax <= 180):
            raise ValueError(f"bbox {value} is not lamin<lamax within ±90, lomin<lomax within ±180")
        return value

    # --- derived ------------------------------------------------------------------------------
    @property
    def kafka_host_port(self) -> tuple[str, int]:
        return _host_port(self.kafka_bootstrap_servers.split(",")[0], 9092)

    @property
    def s3_host_port(self) -> tuple[str, int]:
        return _host_port(self.s3_endpoint, 9000)

    @property
    def mongo_host_port(self) -> tuple[str, int]:
        return _host_port(self.mongo_uri.get_secret_value(), 27017)

    @property
    def resolved_spark_jars_dir(self) -> Path:
        return self.spark_jars_dir or self.cache_dir / "jars" / "spark"

    @property
    def resolved_checkpoint_dir(self) -> str:
        return self.checkpoint_dir or str((self.data_dir / "checkpoints").resolve())

    @property
    def lake_url(self) -> str:
        """Root of the lake as Spark sees it."""
        return f"s3a://{self.lake_bucket}"

    def as_environment(self) -> dict[str, str]:
        """These settings as ``SKYRISK_*`` variables, for a child process (e.g. a throw-away stack's job)."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env

    @property
    def has_live_credentials(self) -> bool:
        return self.opensky_client_id is not None and self.opensky_client_secret is not None

    @property
    def resolved_producer_mode(self) -> Literal["sim", "live", "replay"]:
        """The producers' mode: as configured, else live with credentials, else the simulator."""
        if self.producer_mode:
            return self.producer_mode
        return "live" if self.has_live_credentials else "sim"


def load_settings(**overrides: object) -> Settings:
    """Build the settings once in an entry point; pass the object down.

    A value out of its range ends the entry point with one line naming the variable (exit 2).
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"{ENV_PREFIX}{'_'.join(str(part) for part in first['loc']).upper()}"
        print(f"error: {name}={first.get('input')!r}: {first['msg']}; fix it in the environment or .env",
              file=sys.stderr)
        raise SystemExit(2) from None
