# igcds: CDS Hooks 2.0 service for immunoglobulin therapy decision support.
# Build:  docker build -t igcds .
# Run:    docker compose up   (deploy/compose.yaml: igcds replicas behind haproxy, PostgreSQL, Redis;
#         see docs/operations.md)
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY fhir_mappings ./fhir_mappings
COPY hooks ./hooks
# Wheels for the project and its pinned dependencies (psycopg[binary], cryptography: manylinux wheels).
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IGCDS_CONFIG=/etc/igcds/igcds.toml \
    IGCDS_SERVER__DATA_DIR='"/srv/igcds/data"'
RUN groupadd --system --gid 10001 igcds \
 && useradd --system --uid 10001 --gid igcds --home-dir /srv/igcds --shell /usr/sbin/nologin igcds \
 && mkdir -p /srv/igcds/data /etc/igcds \
 && chown -R igcds:igcds /srv/igcds
COPY --from=build /wheels /wheels
RUN python -m pip install --no-index --find-links /wheels igcds && rm -rf /wheels
# An empty configuration: every key has a safe default; mount a real one over it (docs/operations.md).
RUN touch /etc/igcds/igcds.toml
WORKDIR /srv/igcds
USER igcds:igcds
# SQLite database, generated patient-hash salt, JWT replay store, Prometheus multiprocess files.
VOLUME ["/srv/igcds/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["igcds"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
