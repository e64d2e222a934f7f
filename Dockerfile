# Container image for either app. No Docker engine runs on this project's development and CI
# machines, so this file is kept deliberately plain and is not built there: it performs the same
# install the README describes (pip install of this project) and runs each app under gunicorn
# with the settings in deploy/, which the test suite does exercise (tests/test_anonymous_logging).
#
#   docker build -t reprisals .
#   docker run -e DATABASE_URL=... -v rri-data:/data reprisals reprisals init      # once
#   docker run -p 8080:8080 -v rri-data:/data -e RRI_INTAKE_HOST=report.example.org reprisals   # intake
#   docker run -p 8081:8081 -v rri-data:/data -e RRI_DESK_HOST=desk.example.org reprisals \
#       gunicorn -c /app/deploy/gunicorn_caseworker.py caseworker.wsgi:app            # caseworker
#
# Reach the two by different host names (above, report.example.org and desk.example.org), never
# one name on two ports: browsers send a host's cookies to all its ports, so the intake would
# receive the desk's session cookie. The desk answers 421 to any name but RRI_DESK_HOST.
#
# In production the intake and caseworker containers share only DATABASE_URL and the blob store
# (RRI_BLOB_DIR); give each its own secrets volume so the intake host never holds the caseworker
# app's cookie key, and run the intake app under the database role in deploy/postgres-intake-role.sql.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crypto ./crypto
COPY cases ./cases
COPY intake ./intake
COPY caseworker ./caseworker
COPY cli ./cli
COPY templates ./templates
COPY migrations ./migrations
RUN python -m venv /venv \
    && /venv/bin/pip install --no-cache-dir --upgrade pip \
    && /venv/bin/pip install --no-cache-dir ".[postgres]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin rri \
    && mkdir -p /data /app && chown rri:rri /data
COPY --from=build /venv /venv
COPY deploy /app/deploy
ENV PATH=/venv/bin:$PATH \
    RRI_HOME=/data \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER rri
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8080 8081
CMD ["gunicorn", "-c", "/app/deploy/gunicorn_intake.py", "intake.wsgi:app"]
