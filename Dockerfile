# DMP facade: FHIR R4 -> CI-SIS CDA -> XDS.b ITI-41.
# Certificates and the conformance kit are mounted at run time, never baked into the image.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Layer 1: dependencies only (changes rarely).
COPY pyproject.toml README.md ./
RUN mkdir -p facade && touch facade/__init__.py \
 && pip install --no-compile ".[postgres]" \
 && pip uninstall -y dmp-facade && rm -rf facade

# Layer 2: the project.
COPY facade/ facade/
COPY templates/ templates/
COPY conformance/bundles/ conformance/bundles/
RUN pip install --no-deps -e . \
 && useradd --system --uid 10001 --home /var/lib/facade facade \
 && mkdir -p /var/lib/facade && chown facade /var/lib/facade

USER facade
ENV FACADE_STATE_DIR=/var/lib/facade
EXPOSE 8080
# Production: FACADE_DMP__REPOSITORY_URL, FACADE_DMP__CA_BUNDLE, FACADE_DMP__AUTH__P12, FACADE_DMP__SIGN__P12, ...
# (see README). `docker run ... facade demo --host 0.0.0.0` runs the self-contained demo instead.
ENTRYPOINT ["facade"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
