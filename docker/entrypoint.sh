#!/bin/sh
# One image, several roles: the first argument says which; anything else runs as given.
set -eu

# Secrets not given are generated once (by whichever role starts first, normally migrate)
# into the app-secrets volume and read through the *_FILE variables the settings support.
SECRETS_DIR="${SECRETS_DIR:-/app/var/secrets}"
ensure_secret() {  # $1: variable name, $2: python expression printing a new value
  eval "given=\${$1:-}"
  eval "given_file=\${$1_FILE:-}"
  if [ -n "$given" ] || [ -n "$given_file" ]; then return; fi
  file="$SECRETS_DIR/$(echo "$1" | tr 'A-Z' 'a-z')"
  if [ ! -s "$file" ]; then
    mkdir -p "$SECRETS_DIR"
    umask 077
    python -c "$2" > "$file.tmp" && mv -n "$file.tmp" "$file"
    rm -f "$file.tmp"
  fi
  unset "$1"
  export "$1_FILE=$file"
}
ensure_secret SECRET_KEY "import secrets; print(secrets.token_urlsafe(50))"
ensure_secret FIELD_ENCRYPTION_KEYS "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"

case "${1:-web}" in
  web)
    # HTTP: pages, API and webhooks (WSGI; threads keep their database connections).
    exec gunicorn config.wsgi:application --config "$(dirname "$0")/gunicorn.conf.py"
    ;;
  ws)
    # The officers' live-queue WebSockets (ASGI, Django Channels); the proxy sends /ws/ here.
    exec daphne --bind 0.0.0.0 --port "${WS_PORT:-8001}" --proxy-headers config.asgi:application
    ;;
  worker)
    exec celery -A config worker -Q ingest,outbound,default \
      --concurrency "${WORKER_CONCURRENCY:-$(nproc)}" --prefetch-multiplier "${WORKER_PREFETCH:-4}" \
      --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle
    ;;
  beat)
    exec celery -A config beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule "${VAR_DIR:-/app/var}/celerybeat-schedule"
    ;;
  migrate)
    exec python manage.py migrate --noinput
    ;;
  *)
    exec "$@"
    ;;
esac
