"""The one S3 (MinIO) client factory: bucket bootstrap, model store, lake listings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skyrisk.settings import Settings

if TYPE_CHECKING:
    from minio import Minio


def s3_client(settings: Settings) -> "Minio":
    from minio import Minio

    host, port = settings.s3_host_port
    return Minio(
        f"{host}:{port}",
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_endpoint.startswith("https"),
        region=settings.s3_region,
    )


def child_prefixes(settings: Settings, prefix: str) -> list[str]:
    """Names of the 'folders' directly under a prefix of the lake bucket (``date=...``)."""
    prefix = prefix.rstrip("/") + "/"
    names = []
    for item in s3_client(settings).list_objects(settings.lake_bucket, prefix=prefix, recursive=False):
        if item.is_dir:
            names.append(item.object_name[len(prefix) :].rstrip("/"))
    return names
