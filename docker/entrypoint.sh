#!/bin/sh
# One image, several roles: the first argument says which; anything else runs as given.
set -eu

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
