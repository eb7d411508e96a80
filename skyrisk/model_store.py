"""Phase models in the lake: ``s3://<lake_bucket>/<LAKE_MODELS>/<version>.json``.

The batch job saves a trained model with :func:`save_phase_model`; the streaming job loads the
newest one with :func:`load_latest_phase_model` (a trained model always wins over a bootstrap
one) and polls for a newer one while it runs.
"""

from __future__ import annotations

import io
import logging
import re
from typing import TYPE_CHECKING

from skyrisk.contracts import LAKE_MODELS
from skyrisk.phase import PhaseModel
from skyrisk.s3 import s3_client
from skyrisk.settings import Settings

if TYPE_CHECKING:
    from minio import Minio

log = logging.getLogger("skyrisk.model_store")

MODEL_PREFIX = f"{LAKE_MODELS}/"
_SAFE_VERSION = re.compile(r"^[A-Za-z0-9._:-]+$")


TRAINED_VERSION_PREFIX = "batch-"


def trained_version(day: str) -> str:
    """Version of the model the batch job trains on one day's data (``batch-YYYY-MM-DD``)."""
    return f"{TRAINED_VERSION_PREFIX}{day}"


def _recency(obj: object) -> tuple[bool, str, float]:
    # Trained models compare by the day they were trained on, so re-running an old day does not
    # displace the model of a newer day; the rest (bootstrap models) by upload time.
    version = obj.object_name[len(MODEL_PREFIX) : -len(".json")]
    trained = version.startswith(TRAINED_VERSION_PREFIX)
    return trained, version if trained else "", obj.last_modified.timestamp()


def model_key(version: str) -> str:
    if not _SAFE_VERSION.match(version):
        raise ValueError(f"model version {version!r} must be letters, digits and ._:- only")
    return f"{MODEL_PREFIX}{version}.json"


def save_phase_model(model: PhaseModel, settings: Settings, client: "Minio | None" = None) -> str:
    """Write the model; returns its ``s3://`` URL."""
    client = client or s3_client(settings)
    body = model.to_json().encode()
    key = model_key(model.version)
    client.put_object(settings.lake_bucket, key, io.BytesIO(body), len(body), content_type="application/json")
    return f"s3://{settings.lake_bucket}/{key}"


def _read(client: "Minio", bucket: str, key: str) -> PhaseModel:
    response = client.get_object(bucket, key)
    try:
        return PhaseModel.from_json(response.read().decode())
    finally:
        response.close()
        response.release_conn()


def load_latest_phase_model(settings: Settings, client: "Minio | None" = None) -> PhaseModel | None:
    """The model trained on the newest day, else the newest bootstrap model, else None."""
    client = client or s3_client(settings)
    objects = [
        o for o in client.list_objects(settings.lake_bucket, prefix=MODEL_PREFIX) if o.object_name.endswith(".json")
    ]
    objects.sort(key=_recency, reverse=True)
    newest_bootstrap = None
    for obj in objects:
        try:
            model = _read(client, settings.lake_bucket, obj.object_name)
        except ValueError as exc:  # a broken file must not stop the flights: the next one serves
            log.error("phase model %s is unusable and skipped: %s", obj.object_name, exc)
            continue
        if not model.bootstrap:
            return model
        newest_bootstrap = newest_bootstrap or model
    return newest_bootstrap


def latest_model_stamp(settings: Settings, client: "Minio | None" = None) -> tuple[str, ...]:
    """A cheap fingerprint of the stored models (names and times), to notice a new one."""
    client = client or s3_client(settings)
    return tuple(
        sorted(f"{o.object_name}@{o.last_modified.timestamp()}" for o in client.list_objects(settings.lake_bucket, prefix=MODEL_PREFIX))
    )


def load_or_bootstrap_phase_model(spark, settings: Settings) -> PhaseModel:
    """The model the streaming job starts with: stored, else a freshly trained bootstrap (saved too)."""
    from skyrisk.phase import bootstrap_phase_model

    client = s3_client(settings)
    model = load_latest_phase_model(settings, client)
    if model is None:
        model = bootstrap_phase_model(spark)
        save_phase_model(model, settings, client)
    return model
