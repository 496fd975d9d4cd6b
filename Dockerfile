# syntax=docker/dockerfile:1
#
# intelbus image: the `intelbus` console command plus the producers/consumers packages,
# installed into a self-contained virtualenv. Everything is installed at build time, so the
# container needs no network access at runtime other than reaching its Redis.

# ---------------------------------------------------------------------------------------------
# Build stage: `pip install .` into /opt/venv, run as an unprivileged build user.
# All runtime dependencies ship manylinux wheels, so no compiler toolchain is needed.
# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN useradd --create-home --shell /usr/sbin/nologin builder \
 && mkdir -p /opt/venv /src \
 && chown builder:builder /opt/venv /src

USER builder
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /src
# Only what the build needs (keeps .venv, caches and tests out of the image).
# README*.md is a wildcard so the build still works while README.md does not exist yet.
COPY --chown=builder:builder pyproject.toml README*.md ./
COPY --chown=builder:builder bus ./bus
COPY --chown=builder:builder producers ./producers
COPY --chown=builder:builder consumers ./consumers
COPY --chown=builder:builder schemas ./schemas
RUN pip install . \
 && intelbus --help >/dev/null

# ---------------------------------------------------------------------------------------------
# Runtime stage: the venv only (root-owned, so the service cannot modify its own code), run as
# the unprivileged `intelbus` user.
# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 intelbus \
 && useradd --system --uid 10001 --gid intelbus --create-home --home-dir /home/intelbus \
      --shell /usr/sbin/nologin intelbus \
 && install -d -o intelbus -g intelbus /home/intelbus/.intelbus

COPY --from=build /opt/venv /opt/venv

USER intelbus
# Writable working directory (the embedded-redis fallback keeps its data under ./.intelbus, the console its
# consultation log; created above, owned by intelbus, so a named volume mounted there starts writable).
WORKDIR /home/intelbus

# Healthy when the router's /readyz answers 200 (INTELBUS_METRICS_PORT); a container that runs no router
# (the deploy step, a team service) sets no port and is healthy while it runs. The console's service asks
# its own /healthz instead (python -m bus.health --console).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "bus.health"]

# Exec form: intelbus runs as PID 1 and receives SIGTERM directly from `docker stop`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["intelbus"]
CMD ["--help"]
