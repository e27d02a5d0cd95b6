# Bingo Scheduler with the three plugins of this repository.
#
#   docker build -t bingo-scheduler .
#   docker run --stop-timeout 30 -p 8080:8080 \
#     -v "$PWD/deploy/bingo-scheduler.yaml:/etc/bingo/bingo-scheduler.yaml:ro" bingo-scheduler
#
# The config baked in is deploy/bingo-scheduler.yaml (Redis at redis:6379, MySQL at
# mysql:3306, as in deploy/docker-compose.yml); mount your own over it, or override keys
# with BINGO_<SECTION>__<KEY> variables (BINGO_REDIS__HOST=10.0.0.5:6379).
# SIGTERM stops the daemon gracefully (up to worker.shutdownTimeout, 10 s by default):
# give `docker stop` more than that (--stop-timeout / stop_grace_period).

# --- build the wheels (nothing of the source tree reaches the final image) ---
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bingo_core ./bingo_core
COPY plugins ./plugins
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels \
      . ./plugins/daily_report ./plugins/daily_stats ./plugins/mail_notify

# --- the runtime image ---
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 bingo \
 && useradd --system --uid 10001 --gid bingo --home-dir /var/lib/bingo --create-home \
      --shell /usr/sbin/nologin bingo

# The wheels come from the build stage; their dependencies from the package index.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels

# The original service's config format, pointing at the compose services redis and mysql.
COPY deploy/bingo-scheduler.yaml /etc/bingo/bingo-scheduler.yaml

# storage/ (the SQLite store when no mysql section is set, file logs) is relative to here.
WORKDIR /var/lib/bingo
VOLUME ["/var/lib/bingo"]
USER 10001:10001

EXPOSE 8080
STOPSIGNAL SIGTERM
# /healthz is served with the dashboard (feature.queueDash) and needs no login; slim
# images have no curl, so python's urllib asks (any error or non-2xx status exits 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["bingo-scheduler", "-c", "/etc/bingo/bingo-scheduler.yaml"]
