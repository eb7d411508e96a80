"""Writes .env.example from the Settings model, so it documents every variable exactly."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr

from skyrisk.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent

HEADER = """\
# Copy to .env (git-ignored) and change what you need. Every variable is optional for
# `make run` / `make test`: the defaults point at the local stack. Generated from
# skyrisk/settings.py by `python -m infra.env_example`; do not edit by hand.
"""

COMPOSE_ONLY = """\

# --- docker-compose only (required there; compose refuses to start without them) -------------
# MONGO_ROOT_USER=change-me
# MONGO_ROOT_PASSWORD=change-me
# SKYRISK_S3_ACCESS_KEY / SKYRISK_S3_SECRET_KEY above are also MinIO's root credentials.
"""


def _default_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Path) and str(value).startswith(str(Path.home())):
        return "~" + str(value)[len(str(Path.home())):]
    return str(value)


def render() -> str:
    lines = [HEADER]
    for name, field in Settings.model_fields.items():
        secret = "SecretStr" in str(field.annotation)
        lines.append(f"# {field.description}{' (secret)' if secret else ''}")
        lines.append(f"# {ENV_PREFIX}{name.upper()}={_default_text(field.default)}")
    return "\n".join(lines) + "\n" + COMPOSE_ONLY


if __name__ == "__main__":
    (REPO / ".env.example").write_text(render())
    sys.stdout.write(f"wrote {REPO / '.env.example'}\n")
