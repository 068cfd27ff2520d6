"""Qianbiao settings: everything from the environment, with embedded defaults.

Embedded defaults (no variable set) give a self-contained development platform:
SQLite under ``var/``, a filesystem Celery broker, secrets generated once into
``var/secrets.json``. A real deployment sets ``QIANBIAO_ENV=production`` and every
secret explicitly; it then refuses to start without them.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

from qianbiao.core.secrets import require_secret

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("QIANBIAO_VAR_DIR", BASE_DIR / "var"))

QIANBIAO_ENV = os.environ.get("QIANBIAO_ENV", "embedded")
EMBEDDED = QIANBIAO_ENV == "embedded"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("DEBUG", EMBEDDED)
if QIANBIAO_ENV == "production":
    # A deployment must never fall back silently to the embedded SQLite and file broker.
    for _required in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not os.environ.get(_required):
            raise ImproperlyConfigured(f"Environment variable {_required} must be set in production.")
SECRET_KEY = require_secret("SECRET_KEY", embedded=EMBEDDED, var_dir=VAR_DIR)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "qianbiao.core",
    "qianbiao.enterprises",
    "qianbiao.programme",
    "qianbiao.workforce",
    "qianbiao.projects",
    "qianbiao.labelling",
    "qianbiao.quality",
    "qianbiao.dashboards",
    "qianbiao.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "qianbiao.urls"
WSGI_APPLICATION = "qianbiao.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "platform" / "qianbiao" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'qianbiao.sqlite3'}"),
        # Reconnecting per request halves a list endpoint's throughput (DESIGN.md).
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web, worker and beat as separate processes on one
    # SQLite file: WAL lets readers go on while one writes, IMMEDIATE transactions
    # and a timeout make writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "platform" / "qianbiao" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Personal data (PIPL): ciphertext keys may be rotated — the first key encrypts,
# every listed key decrypts. The lookup key makes ID-card numbers findable by
# exact value through a keyed hash without storing them readable.
PII_ENCRYPTION_KEYS = require_secret(
    "PII_ENCRYPTION_KEYS", embedded=EMBEDDED, var_dir=VAR_DIR, kind="fernet"
).split(",")
PII_LOOKUP_KEY = require_secret("PII_LOOKUP_KEY", embedded=EMBEDDED, var_dir=VAR_DIR)

# Celery: a filesystem broker needs no server in the embedded default; Redis in a
# real deployment. The database carries the state of all work (DESIGN.md, "Not
# losing work"): Redis only carries messages, and the beat sweep re-derives from
# the database whatever a lost message would have done.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Without control_folder kombu writes its exchanges to ./control in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # An unacknowledged message (acks_late) comes back after this long. It
        # must outlast the longest task (hard limit below) or a task still running
        # gets delivered twice; much longer than that only delays recovery, which
        # the sweep covers anyway. Redis's default is an hour.
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "900")),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Two queues so that a backlog of distribution never holds up expiry and
# revocation; a worker started without -Q consumes both.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name), routing_key=name) for name in ("distribution", "maintenance")
)
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
# Acknowledged early by default; a task that is idempotent and shorter than the
# visibility timeout asks for acks_late itself (workers.app.IDEMPOTENT), so a worker
# that dies mid-task leaves its message to come back. One message prefetched per
# process, so a long distribution never sits on queued work.
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose process was killed (hard time limit, OOM) is still acknowledged:
# requeuing it could crash-loop the worker, and the sweep redoes its work anyway.
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# Nothing reads results: the database is where outcomes live.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_TASK_TIME_LIMIT = 600
CELERY_WORKER_MAX_TASKS_PER_CHILD = 500  # bounds memory growth of long-lived processes
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How long one distribution task works before it hands over to a fresh message
# (so a million-item project never holds a worker for the whole job).
QIANBIAO_DISTRIBUTION_BUDGET_S = float(os.environ.get("QIANBIAO_DISTRIBUTION_BUDGET_S", "60"))
QIANBIAO_DISTRIBUTION_CHUNK_ITEMS = int(os.environ.get("QIANBIAO_DISTRIBUTION_CHUNK_ITEMS", "10000"))
QIANBIAO_SWEEP_SECONDS = float(os.environ.get("QIANBIAO_SWEEP_SECONDS", "60"))
# Periods of beat's schedule, which lives with the task names in workers/beat.py.
QIANBIAO_RECONCILE_SECONDS = float(os.environ.get("QIANBIAO_RECONCILE_SECONDS", "3600"))
LABEL_STUDIO_RECONCILE_SECONDS = float(os.environ.get("LABEL_STUDIO_RECONCILE_SECONDS", "900"))
QIANBIAO_SNAPSHOT_SECONDS = float(os.environ.get("QIANBIAO_SNAPSHOT_SECONDS", "3600"))

LABEL_STUDIO_URL = os.environ.get("LABEL_STUDIO_URL", "http://127.0.0.1:8080")
LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")
# Label Studio sends annotation webhooks to LABEL_STUDIO_WEBHOOK_URL (our
# /hooks/label-studio/ as Label Studio reaches it) with this secret in a header;
# the view compares it in constant time (Label Studio signs nothing).
# Outside production a missing one is generated once into var/ (tests, benches).
LABEL_STUDIO_WEBHOOK_SECRET = require_secret(
    "LABEL_STUDIO_WEBHOOK_SECRET", embedded=QIANBIAO_ENV != "production", var_dir=VAR_DIR
)
# Shared with Label Studio's lock-down (annotation/label_studio_site): annotators' routing
# keys and the hand-off tokens that open their Label Studio sessions are signed with it.
LABEL_STUDIO_QIANBIAO_SECRET = require_secret(
    "LABEL_STUDIO_QIANBIAO_SECRET", embedded=QIANBIAO_ENV != "production", var_dir=VAR_DIR
)
LABEL_STUDIO_WEBHOOK_URL = os.environ.get(
    "LABEL_STUDIO_WEBHOOK_URL", "http://127.0.0.1:8000/hooks/label-studio/"
)
# No Label Studio project holds more than this many tasks: a dataset project
# spreads over shards (Label Studio advises ~100k tasks per project).
LABEL_STUDIO_SHARD_TASKS = int(os.environ.get("LABEL_STUDIO_SHARD_TASKS", "100000"))
# Tasks per import call and per duplicate lookup (Label Studio takes up to 250k/200 MB).
LABEL_STUDIO_PUSH_BATCH = int(os.environ.get("LABEL_STUDIO_PUSH_BATCH", "1000"))
# After a push died, the project's next push waits this long after its last import was
# sent: Label Studio finishes a request whose client is gone (up to its worker timeout:
# 300 s as annotation.server serves it). Longer than that timeout, or a retried push can
# miss tasks still being committed and import them twice.
LABEL_STUDIO_PUSH_SETTLE_SECONDS = float(os.environ.get("LABEL_STUDIO_PUSH_SETTLE_SECONDS", "360"))

# REST API (qianbiao.api): enterprise API keys, per-key throttling, cursor pagination,
# one JSON error shape. Throttle counts live in the default cache: set CACHE_URL to a
# Redis URL so that every web worker shares them.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["qianbiao.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["qianbiao.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("API_THROTTLE_RATE", "1200/min"),
        "api_import": os.environ.get("API_IMPORT_THROTTLE_RATE", "60/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "qianbiao.api.pagination.IdCursorPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_METADATA_CLASS": None,
    "EXCEPTION_HANDLER": "qianbiao.api.errors.exception_handler",
    "URL_FORMAT_OVERRIDE": None,  # ?format= selects the results' encoding, not a renderer
    "COERCE_DECIMAL_TO_STRING": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Qianbiao (黔标) API",
    "DESCRIPTION": (
        "Dataset projects in, accepted results out. Authenticate with `Authorization: Token <key>` "
        "(keys are issued per enterprise). Lists are paginated by cursor (`next`/`previous`). "
        'Every error is `{"error": {"code", "message", …}}`.'
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ProjectStatusEnum": "qianbiao.projects.models.ProjectStatus",
        "ClientProjectStatusEnum": "qianbiao.api.serializers.CLIENT_STATUS_CHOICES",
        "DeliveryStatusEnum": "qianbiao.api.models.DeliveryStatus",
        "CallbackEventEnum": "qianbiao.api.models.CallbackEvent",
    },
}
API_MAX_UPLOAD_BYTES = int(os.environ.get("API_MAX_UPLOAD_BYTES", str(256 << 20)))
API_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("API_IDEMPOTENCY_TTL_HOURS", "24"))
API_RESULTS_LAG_SECONDS = int(os.environ.get("API_RESULTS_LAG_SECONDS", "2"))
# Callbacks to loopback and private addresses only where nothing else is reachable.
API_CALLBACKS_ALLOW_PRIVATE = env_bool("API_CALLBACKS_ALLOW_PRIVATE", EMBEDDED)
# Dotted path of f(config) -> None raising ValidationError: the Label Studio adapter's check.
QIANBIAO_LABEL_CONFIG_VALIDATOR = os.environ.get("QIANBIAO_LABEL_CONFIG_VALIDATOR", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
