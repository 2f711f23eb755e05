"""gunicorn for the web service (config.wsgi): pages, API and webhooks.

Threads, not processes, carry the concurrency: a webhook spends most of its time waiting on
PostgreSQL and Redis, and each thread keeps its database connection (CONN_MAX_AGE), which
an ASGI server handling Django views cannot do (see docs/benchmarks.md). bench/ingest.py
loads this file, so the benchmark measures what the image runs.
"""

from __future__ import annotations

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS") or multiprocessing.cpu_count())
threads = int(os.environ.get("WEB_THREADS") or 4)
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 20_000
max_requests_jitter = 2_000
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
