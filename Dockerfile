# One image for every app service (producers, streaming, batch scheduler, dashboard, init)
# and for the Spark master/worker, so driver and executors share one Python and one set of deps.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV SKYRISK_CACHE_DIR=/opt/skyrisk-cache \
    UV_CACHE_DIR=/opt/skyrisk-cache/uv \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1

COPY pyproject.toml uv.lock ./
RUN pip install --no-cache-dir uv==0.13.9 && uv sync --frozen --no-dev --no-install-project

COPY . .
# The Spark connector jars (Kafka source, S3A); the services come from their own images.
RUN python -m infra setup --only jars

# Non-root at run time.
RUN useradd --create-home --uid 10001 skyrisk && chown -R skyrisk /app /opt/skyrisk-cache
USER skyrisk
