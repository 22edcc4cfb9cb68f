# The mediasync worker: the project installed by uv exactly as uv.lock pins it, ffmpeg
# for compression, run as an unprivileged user. Built by docker-compose.yml.
FROM python:3.11-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /usr/local/bin/
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 mediasync \
    && mkdir -p /data /nas /library && chown mediasync:mediasync /data

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /app
# Dependencies first: this layer stays cached while only the code changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY mediasync ./mediasync
COPY steps ./steps
COPY tasks ./tasks
COPY flows ./flows
COPY deployments ./deployments
RUN uv sync --frozen --no-dev

USER mediasync
CMD ["mediasync", "serve"]
