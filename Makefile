# Citizen Inbox — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
DEMO_PASSWORD ?= citizen-inbox-demo
# The simulated citizen feed of `make run`: messages per second, or DEMO_FEED=off.
DEMO_FEED_RATE ?= 0.2
DEMO_FEED ?= on
# Where the demo keeps its SQLite database.
VAR_DIR ?= $(CURDIR)/var
# Tests run on the local PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/citizen_inbox
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help install browser mailserver gettext messages npm run manage test test-chaos lint bench bench-queue bench-dashboard clean

help:
	@echo "make run    - set up and serve the demo on http://127.0.0.1:$(PORT) (SQLite, in-process tasks)"
	@echo "             PORT=8000 DEMO_PASSWORD=... DEMO_FEED_RATE=0.2 (messages/s) DEMO_FEED=off (no feed)"
	@echo "make manage ARGS='...' - manage.py against the demo (e.g. ARGS='drf_create_token officer')"
	@echo "make test   - set up and run ruff and the whole test suite (PostgreSQL and Redis)"
	@echo "make test-chaos - the full chaos runs: workers SIGKILLed, Redis and PostgreSQL restarted (their own)"
	@echo "make bench  - ingest and queue benchmarks against PostgreSQL, Redis and a Celery worker"
	@echo "make bench-dashboard - the supervisor's dashboard with 1,000,000 conversations (its own database, seeded once)"
	@echo "make lint   - ruff"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Headless Chromium for the browser tests comes from Debian, never from a browser download.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Debian's chromium package (apt-get install chromium) for the browser tests"; exit 1; fi; }

# The e-mail tests read a real IMAP server: Dovecot from Debian, started by the tests themselves
# on free loopback ports with a temporary configuration (channels_adapters/email/tests/conftest.py).
mailserver:
	@command -v dovecot >/dev/null 2>&1 || test -x /usr/sbin/dovecot || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; \
	  else echo "Install Debian's dovecot-imapd package (apt-get install dovecot-imapd) for the e-mail tests"; exit 1; fi; }

# The compiled translations (locale/*/LC_MESSAGES/django.mo) are built here, never committed;
# compilemessages needs msgfmt, from Debian's gettext package (installed with apt when root).
gettext:
	@command -v msgfmt >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	  else echo "Install Debian's gettext package (apt-get install gettext) to compile the translations"; exit 1; fi; }

messages: install gettext
	DEBUG=true $(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0

# axe-core for the accessibility tests comes from the npm registry, pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "Install npm (apt-get install npm) for the accessibility tests"; exit 1; fi; }
	npm ci --no-audit --no-fund --silent
	touch $@

npm: node_modules/.installed

# The demo's settings go to .env.demo (git-ignored), which manage.py reads when present, so
# `.venv/bin/python manage.py <command>` works against the demo afterwards; the environment wins.
run: install messages
	@printf '%s\n' '# Written by `make run` on every start: the settings of the demo, read by manage.py.' \
	  '# Variables set in the environment win over these. See docs/configuration.md.' \
	  'DEBUG=true' 'VAR_DIR=$(VAR_DIR)' 'PORT=$(PORT)' \
	  'DEMO_FEED=$(DEMO_FEED)' 'DEMO_FEED_RATE=$(DEMO_FEED_RATE)' \
	  '# Admins and supervisors are reminded to set up two-factor sign-in, not made to (README).' \
	  'TWO_FACTOR_DEFER_ENROLMENT=true' > .env.demo
	$(PY) manage.py migrate --noinput
	DEMO_PASSWORD='$(DEMO_PASSWORD)' $(PY) manage.py seed_demo
	@echo
	@echo "  Citizen Inbox on http://127.0.0.1:$(PORT)"
	@echo "  users: admin, supervisor, officer, officer2, officer3 — password: $(DEMO_PASSWORD)"
	@echo "  two-factor sign-in: admin and supervisor are asked to set it up (Security, top right), not made to"
	@echo "  demo settings in .env.demo: .venv/bin/python manage.py <command> (or make manage ARGS='...') uses them"
	@echo
	PORT=$(PORT) DEMO_FEED=$(DEMO_FEED) DEMO_FEED_RATE=$(DEMO_FEED_RATE) $(PY) manage.py rundemo

# manage.py against the demo's settings (.env.demo), e.g. make manage ARGS='drf_create_token officer'
manage: install
	$(PY) manage.py $(ARGS)

test: install browser mailserver messages npm
	$(VENV)/bin/ruff check .
	DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# The full chaos runs (tests/chaos; make test runs the short ones): 20,000 webhooks and 1,000
# replies while workers are SIGKILLed, Redis and PostgreSQL restarted. The servers it kills are
# its own (initdb + pg_ctl as the postgres user, redis-server), on free loopback ports.
test-chaos: install
	CHAOS_FULL=1 DATABASE_URL='$(TEST_DATABASE_URL)' REDIS_URL='$(TEST_REDIS_URL)' $(PY) -m pytest -p no:cacheprovider -s -m chaos_full tests/chaos $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

BENCH_ENV := DATABASE_URL='$(TEST_DATABASE_URL)_bench' REDIS_URL='redis://127.0.0.1:6379/5'

bench: install
	$(BENCH_ENV) $(PY) bench/ingest.py
	$(BENCH_ENV) $(PY) bench/ingest.py --skip latency --messages 20000 --events-per-webhook 10
	$(BENCH_ENV) $(PY) bench/queue_page.py

bench-queue: install
	$(BENCH_ENV) $(PY) bench/queue_page.py

# Its own database, dashboard_bench (1,000,000 conversations and 5,000,000 messages, seeded with COPY on the first
# run and kept: ARGS=--reseed seeds again); docs/benchmarks.md, "Supervisor dashboard".
bench-dashboard: install
	REDIS_URL='redis://127.0.0.1:6379/6' $(PY) bench/dashboard.py $(ARGS)

clean:
	rm -rf $(VENV) var .env.demo node_modules
	find locale -name '*.mo' -delete
