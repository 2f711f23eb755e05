"""Citizen Inbox settings: one module, driven by environment variables.

Without ``DATABASE_URL`` and ``REDIS_URL`` the app runs on the embedded default: a SQLite
file, tasks executed in-process and an in-memory channel layer. With them (docker compose,
CI, production) the same code runs on PostgreSQL, Celery workers with Redis and the Redis
channel layer. See docs/configuration.md for every variable (tests/test_config.py checks
that every variable read here is documented there).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for local development)")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The port `manage.py rundemo` (`make run`) serves on, and the simulated feed's target.
PORT = env_int("PORT", 8000, minimum=1)
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{PORT}")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # Before rest_framework.authtoken: its drf_create_token refuses users who sign in with a
    # second factor (they create their token in a verified session: inbox/security/).
    "inbox.security",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from the app, not from a CDN
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "channels",
    "inbox",
    "routing",
    "channels_adapters",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy headers (settings under "Browser security").
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's Accept-Language (or the language cookie) picks the interface language...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...unless the signed-in user chose one (inbox/i18n.py).
    "inbox.i18n.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    # Idle sessions end; a second factor before anything else (inbox/security/middleware.py).
    "inbox.security.middleware.SignInMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "inbox.context_processors.navigation",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    # Off by default: a SELECT 1 before every request costs a fifth of a webhook's time, and
    # Django drops a broken persistent connection after the request that finds it anyway.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", False)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, channel layer, cache ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_PREFIX", "asgi")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "ci"),
        }
    }
else:
    # Eager tasks still take a producer from kombu's pool; a URL without a host makes kombu
    # warn "No hostname was supplied" on the first task, about a broker the demo has not got.
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "channels_adapters.ingest_raw_events": {"queue": "ingest"},
    "channels_adapters.message_send": {"queue": "outbound"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it: a new PostgreSQL backend per task cost more CPU than the ingest itself.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "raw-events-sweep": {
        "task": "channels_adapters.raw_events_sweep",
        "schedule": timedelta(seconds=60),
    },
    "outbound-sweep": {
        "task": "channels_adapters.outbound_sweep",
        "schedule": timedelta(seconds=120),
    },
    "poll-channels": {
        "task": "channels_adapters.poll_due_channels",
        "schedule": timedelta(seconds=30),
    },
    # The audit trail's hash chain (inbox/audit.py): rows are sealed within a minute.
    "audit-seal": {
        "task": "inbox.audit_seal",
        "schedule": timedelta(seconds=60),
    },
    # The public record (inbox/records/): retention nightly, expired archives hourly.
    "records-retention": {
        "task": "inbox.records_retention_run",
        "schedule": crontab(hour=2, minute=30),
    },
    "records-exports-expire": {
        "task": "inbox.records_exports_expire",
        "schedule": timedelta(hours=1),
    },
    # Read notifications older than 30 days go (inbox/services/notifications.py).
    "notifications-expire": {
        "task": "inbox.notifications_expire",
        "schedule": crontab(hour=3, minute=10),
    },
    # SLA warnings, breaches and escalations (routing/sla_scan.py): a minute late at most.
    "sla-scan": {
        "task": "routing.sla_scan",
        "schedule": timedelta(seconds=60),
    },
    # The dashboard's rollup windows that ended days ago (routing/sla_rollups.py).
    "sla-rollups-prune": {
        "task": "routing.sla_rollups_prune",
        "schedule": crontab(hour=3, minute=40),
    },
    # Snoozed conversations whose time has come go back to the top of their queue.
    "snoozed-wake": {
        "task": "inbox.snoozed_wake",
        "schedule": timedelta(seconds=60),
    },
    # Unassigned conversations to officers who became available or freed capacity, earliest
    # due first, and take-backs from assignees who did not answer (routing/assignment.py).
    "assign-backlog": {
        "task": "routing.assign_backlog",
        "schedule": timedelta(seconds=30),
    },
}

# Webhooks: past this many rejected requests (bad signature, too large...) a minute from one
# address, its requests are refused unread (429) and logged once a minute.
WEBHOOK_REJECTIONS_PER_MINUTE = env_int("WEBHOOK_REJECTIONS_PER_MINUTE", 60, minimum=1)
RATELIMIT_ENABLE = True

# --- Auth and permissions --------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_ANONYMOUS_USER_NAME = None  # anonymous users never hold object permissions
ANONYMOUS_USER_NAME = None
# Password guessing: after AXES_FAILURE_LIMIT failures for one user from one address, that
# pair is locked out for the cool-off time (django-axes).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:queue"
LOGOUT_REDIRECT_URL = "login"
# Two-factor sign-in (inbox/security/): required for admins and supervisors (and for everyone
# when an admin says so on the Security settings page). The demo defers the enrolment: those
# who must enrol are reminded on every page instead of being sent to it.
TWO_FACTOR_DEFER_ENROLMENT = env_bool("TWO_FACTOR_DEFER_ENROLMENT", False)
OTP_TOTP_ISSUER = "Citizen Inbox"
# A session without a request from its user for this long ends (background polls and
# heartbeats of an open page do not count as activity).
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Webhook bodies are read whole (Meta batches up to 1,000 updates); the view caps them at 10 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 11 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)  # set it once TLS is in place
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY") else None
# How many reverse proxies append to X-Forwarded-For in front of the app (config/client_ip.py):
# the sign-in lock-out, the webhook flood guard, the contact form and the API throttles all
# count per client address through it. 0: the peer's address, no header trusted.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
RATELIMIT_IP_META_KEY = "config.client_ip.client_ip"

# --- Browser security (docs/configuration.md, "Browser security") -----------------------------
# No inline script or style anywhere: every script and stylesheet is a file under /static/.
# Swagger UI (/api/docs/) alone gets inline styles, on that view only (config/urls.py).
# Live updates use a WebSocket to this host (Channels): ws: in development, wss: behind TLS.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, "ws:", "wss:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Where browsers report violations (a URL), if anywhere; the policy is enforced either way.
CSP_REPORT_URI = env_str("CSP_REPORT_URI", "")
if CSP_REPORT_URI:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [CSP_REPORT_URI]
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Nothing here needs the camera, the microphone, the position or payments: refused to every origin.
PERMISSIONS_POLICY = {
    feature: [] for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get",
        "screen-wake-lock", "usb", "xr-spatial-tracking",
    )
}
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # pages read the token from their forms, never from the cookie
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# --- Secrets at rest -------------------------------------------------------------------------
# Channel credentials are encrypted with Fernet. FIELD_ENCRYPTION_KEYS is a comma-separated
# list: the first key encrypts, all of them decrypt (key rotation). For local development
# only, a key is derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set (a Fernet key)")
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(f"fernet:{SECRET_KEY}".encode()).digest()).decode()
    ]

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's, plus the 400/401/403/404/429 answers DRF gives everywhere (inbox/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "inbox.api.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_RATE", "1200/minute")},
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Citizen Inbox API",
    "DESCRIPTION": "Conversations with citizens across social networks, answered by a public administration.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" and a "kind": name their enums so the schema is stable.
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "inbox.models.Conversation.Status",
        "ConversationKindEnum": "inbox.models.Conversation.Kind",
        "ChannelAccountStatusEnum": "inbox.models.ChannelAccount.Status",
        "MessageKindEnum": "inbox.models.Message.Kind",
    },
}

# --- Platforms ------------------------------------------------------------------------------
# The simulated platform signs its webhooks like a real one; the key is derived from
# SECRET_KEY so the server and `manage.py simulate_citizens` agree without configuration.
SIMULATOR_SECRET = env_str("SIMULATOR_SECRET") or hashlib.sha256(
    f"simulator:{SECRET_KEY}".encode()
).hexdigest()
X_CONSUMER_SECRET = env_str("X_CONSUMER_SECRET", "")
X_CONSUMER_KEY = env_str("X_CONSUMER_KEY", "")
X_CLIENT_ID = env_str("X_CLIENT_ID", "")
X_CLIENT_SECRET = env_str("X_CLIENT_SECRET", "")
# tweepy 4.17 calls api.twitter.com; X now documents api.x.com (same API). See docs/channels/x.md.
X_API_BASE_URL = env_str("X_API_BASE_URL", "https://api.x.com").rstrip("/")
X_OAUTH_AUTHORIZE_URL = env_str("X_OAUTH_AUTHORIZE_URL", "https://x.com/i/oauth2/authorize")
X_POLL_MIN_INTERVAL_SECONDS = env_int("X_POLL_MIN_INTERVAL_SECONDS", 60, minimum=15)
META_APP_ID = env_str("META_APP_ID", "")
META_APP_SECRET = env_str("META_APP_SECRET", "")
META_VERIFY_TOKEN = env_str("META_VERIFY_TOKEN", "")
META_GRAPH_VERSION = env_str("META_GRAPH_VERSION", "v26.0")  # the newest Graph API version (July 2026)
PLATFORM_HTTP_TIMEOUT = env_int("PLATFORM_HTTP_TIMEOUT", 15, minimum=1)
if DEBUG:
    # The demo's simulated X and Meta deliveries are signed like the real ones; without an app
    # configured, development uses secrets derived from SECRET_KEY (never in production).
    X_CONSUMER_SECRET = X_CONSUMER_SECRET or hashlib.sha256(f"x:{SECRET_KEY}".encode()).hexdigest()
    META_APP_SECRET = META_APP_SECRET or hashlib.sha256(f"meta:{SECRET_KEY}".encode()).hexdigest()
# The demo's simulated citizen feed (`make run`, `manage.py rundemo`): messages per second,
# or off (DEMO_FEED=off, or a rate of 0).
DEMO_FEED = env_bool("DEMO_FEED", True)
DEMO_FEED_RATE = env_float("DEMO_FEED_RATE", 0.2, minimum=0)
# Conversations that no rule and no channel default places go to this team.
FALLBACK_TEAM_SLUG = env_str("FALLBACK_TEAM_SLUG", "general")
# An officer counts as available while a page of theirs sent a heartbeat this recently
# (pages send one every PRESENCE_HEARTBEAT_SECONDS); docs/architecture.md, "Presence".
PRESENCE_TIMEOUT_SECONDS = env_int("PRESENCE_TIMEOUT_SECONDS", 90, minimum=10)
PRESENCE_HEARTBEAT_SECONDS = env_int("PRESENCE_HEARTBEAT_SECONDS", 30, minimum=5)

# --- Service levels -------------------------------------------------------------------------
# E-mail domains of the administration: its addresses may appear in public replies.
PUBLIC_EMAIL_DOMAINS = tuple(d.lower() for d in env_list("PUBLIC_EMAIL_DOMAINS"))
# Phone numbers without a country code are read as numbers of this region.
PHONE_REGION = env_str("PHONE_REGION", "ES")
FIRST_RESPONSE_TARGET_MINUTES = env_int("FIRST_RESPONSE_TARGET_MINUTES", 120, minimum=1)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 200, minimum=1)
INGEST_BATCH_BYTES = env_int("INGEST_BATCH_BYTES", 512 * 1024, minimum=1)

# --- E-mail: SLA warnings, breaches and escalations (routing/sla_scan.py) ----------------------
# Without EMAIL_HOST nothing is sent by e-mail (the live notifications in the browser still are).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "citizen-inbox@localhost")
# A mail server that does not answer must not hold the scan's worker for long.
EMAIL_TIMEOUT = 10

# --- The public record: exports, retention (docs/public-record.md) ------------------------
# Archives (FOI and data-subject exports) are written here and deleted when they expire; the
# web and worker processes must share it (docker-compose.yml: the record-exports volume).
RECORDS_EXPORT_DIR = Path(env_str("RECORDS_EXPORT_DIR", str(VAR_DIR / "exports")))
RECORDS_EXPORT_TTL_HOURS = env_int("RECORDS_EXPORT_TTL_HOURS", 72, minimum=1)
# Pseudonymisation replaces a value by an HMAC of it under this key, so the same person gets
# the same token everywhere. Keep it secret and stable: a new key gives new tokens.
# Without one, it is derived from SECRET_KEY (then rotating SECRET_KEY changes the tokens).
RECORDS_TOKEN_KEY = env_str("RECORDS_TOKEN_KEY") or hashlib.sha256(
    f"records-token:{SECRET_KEY}".encode()
).hexdigest()
# Conversations pseudonymised per transaction by the nightly retention run.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 100, minimum=1)

# --- I18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The interface languages (docs/i18n.md). Catalogues live in locale/; the compiled .mo files are
# built by `make run`/`make test` and the Dockerfile (compilemessages), never committed.
LANGUAGES = [
    ("ca", "Català"),
    ("es", "Español"),
    ("en", "English"),
    ("fr", "Français"),
    ("pl", "Polski"),
    ("fa", "فارسی"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "ci_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("TIME_ZONE", "Europe/Madrid")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("MANIFEST_STATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"webhook_rejections": {"()": "config.log_filters.WebhookRequestsLoggedByTheEndpoint"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"filters": ["webhook_rejections"]},
        "django.server": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
    },
}

# --- The adapter registry: platform name -> adapter class, imported lazily -------------------
CHANNEL_ADAPTERS = {
    "x": "channels_adapters.x.adapter.XAdapter",
    "facebook": "channels_adapters.meta.adapter.MetaAdapter",
    "instagram": "channels_adapters.meta.adapter.MetaAdapter",
    "telegram": "channels_adapters.telegram.adapter.TelegramAdapter",
    "email": "channels_adapters.email.adapter.EmailAdapter",
    "webform": "channels_adapters.webform.adapter.WebformAdapter",
    "simulator": "channels_adapters.simulator.adapter.SimulatorAdapter",
}
