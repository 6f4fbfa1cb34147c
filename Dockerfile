# syntax=docker/dockerfile:1
# sla-bot: the webhook server and sweep (`sla-bot serve`) in a slim, non-root image.
#
#   docker build -t sla-bot .
#   docker run --env-file .env -p 8000:8000 sla-bot
#
# Both stages use the same base image, so the venv built in the first runs unchanged in the
# second (its python symlinks to /usr/local/bin/python3.11). Pinned to an exact patch release;
# for byte-for-byte reproducible builds also pin the digest, e.g.
#   docker build --build-arg PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:<digest> .
# (`docker buildx imagetools inspect python:3.11.11-slim-bookworm` prints it; it was not
# looked up here because this tree is built without network access to the registry).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
# The dependencies exactly as tested (requirements/runtime.lock), in a layer of their own.
COPY requirements/runtime.lock ./requirements/
RUN /opt/venv/bin/pip install -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY sla_sandbox ./sla_sandbox
# A wheel, not an editable install: the runtime image gets no source tree, only the venv.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl \
 && /opt/venv/bin/sla-bot --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# A fixed uid/gid, so volume permissions and Kubernetes runAsUser can name it.
RUN groupadd --system --gid 10001 sla \
 && useradd --system --uid 10001 --gid sla --home-dir /data --shell /usr/sbin/nologin sla \
 && mkdir /data && chown sla:sla /data
COPY --from=builder /opt/venv /opt/venv
# The default DATABASE_URL (sqlite:///sla-bot.db) lands here; mount a volume to keep it,
# or set DATABASE_URL to PostgreSQL (compose.yaml) to run several replicas.
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# No curl in slim images: probe /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["sla-bot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
