# Citizen Inbox: one image for the web server, the Celery worker and beat.
#   docker compose up            (see docker-compose.yml and .env.example)
# $VAR_DIR/secrets is owned by the app user so that the app-secrets volume starts writable.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    DEBUG=false \
    MANIFEST_STATIC=true

WORKDIR /app
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml README.md* ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Editable, so that settings' BASE_DIR stays /app (templates/ and static/ live beside the code).
RUN pip install --no-deps -e . \
    && mkdir -p "$VAR_DIR/secrets" "$VAR_DIR/exports" \
    && SECRET_KEY=collectstatic-only FIELD_ENCRYPTION_KEYS=ejrXA-qdtWDv1WvdInWK6FKmCOpmJYMl0SJHbwqcIzc= \
       python manage.py collectstatic --noinput -v 0 \
    && apt-get update -qq && apt-get install -y -qq --no-install-recommends gettext >/dev/null \
    && SECRET_KEY=compilemessages-only FIELD_ENCRYPTION_KEYS=ejrXA-qdtWDv1WvdInWK6FKmCOpmJYMl0SJHbwqcIzc= \
       python manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0 \
    && apt-get purge -y -qq gettext >/dev/null && apt-get autoremove -y -qq >/dev/null && rm -rf /var/lib/apt/lists/* \
    && rm -f "$VAR_DIR/db.sqlite3" \
    && chown -R app:app "$VAR_DIR" \
    && chmod +x docker/entrypoint.sh

USER app
EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["web"]
