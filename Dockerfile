# syntax=docker/dockerfile:1
# DMP facade: FHIR R4 -> CI-SIS CDA -> XDS.b ITI-41.
# Certificates and the conformance kit are mounted at run time, never baked into the image.

# Stage 1: the wheel of the facade and of every dependency (the runtime image never sees the source tree).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels ".[postgres]"

# Stage 2: the runtime, installed from those wheels only.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "dmp-facade[postgres]" \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/facade --no-create-home facade \
 && install -d -o facade -g facade -m 0700 /var/lib/facade

# Every command keeps its state (SQLite store, hashed-INS key, demo PKI and simulator) in FACADE_STATE_DIR:
# a volume owned by the unprivileged user, also the working directory, so nothing is written elsewhere.
ENV FACADE_STATE_DIR=/var/lib/facade
VOLUME ["/var/lib/facade"]
WORKDIR /var/lib/facade
USER facade:facade
EXPOSE 8080

# Readiness (/health/ready: store, certificates, DMP reachability, backlog), as issue 13 asks: `docker ps` shows
# "unhealthy" and `docker inspect` the reasons `facade probe` printed; compose's `condition: service_healthy` waits for
# it. Docker itself never restarts an unhealthy container; under Swarm, which replaces unhealthy tasks (a restart does
# not bring the DMP back), override with --health-cmd 'facade probe --url http://127.0.0.1:8080/health/live'.
# When the facade serves HTTPS (FACADE_AUTH__SERVER_CERT), override it: --health-cmd 'facade probe --url
# https://<server name>:8080/health/ready --ca <CA file>'. In mtls mode the handshake itself needs a client
# certificate: probe from the orchestrator with one, or disable this check (--no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["facade", "probe", "--url", "http://127.0.0.1:8080/health/ready"]

# Production: FACADE_DMP__REPOSITORY_URL, FACADE_DMP__CA_BUNDLE, FACADE_DMP__AUTH__P12, FACADE_DMP__SIGN__P12, ...
# (see README). `docker run -p 8080:8080 IMAGE demo --host 0.0.0.0` runs the self-contained demo instead.
ENTRYPOINT ["facade"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
