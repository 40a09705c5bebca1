"""Settings, read only from environment variables with safe defaults (see README)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("COCKPIT_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


DEBUG = env_bool("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "django_q",
    "engine",
    "batches",
    "cockpit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "engine.rest.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "cockpit.urls"
WSGI_APPLICATION = "cockpit.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DEFAULT_SQLITE_PATH = VAR_DIR / "cockpit.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 600)
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside one writer; IMMEDIATE takes the write lock at BEGIN so two
    # processes never deadlock upgrading a read lock; the busy timeout makes writers queue up.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30),
        # A bigger page cache and rarer WAL checkpoints: checkpoints, not statements, dominated batch
        # commits on a 100k-instance database (bench/batch_throughput.py).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; "
            f"PRAGMA cache_size=-{env_int('SQLITE_CACHE_MB', 32) * 1024}; "
            f"PRAGMA wal_autocheckpoint={env_int('SQLITE_WAL_AUTOCHECKPOINT', 10000)}; "
            f"PRAGMA mmap_size={env_int('SQLITE_MMAP_MB', 0) * 1024 * 1024};"
        ),
    }
    _db["TEST"] = {"NAME": str(Path(_db["NAME"]).with_name(Path(_db["NAME"]).stem + "_test.sqlite3"))}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": os.environ.get(
            "STATICFILES_BACKEND", "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Production hardening (on whenever DEBUG is off) -----------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the cookie-free template tag instead
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request limits: a selection or BPMN upload beyond these is a 400, never an out-of-memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
BPMN_MAX_BYTES = env_int("BPMN_MAX_BYTES", 2 * 1024 * 1024)

# --- REST ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "engine.rest.errors.camunda_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "engine.rest.schema.CamundaSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Batch operations console - engine REST API",
    "DESCRIPTION": "Camunda-7-compatible REST API served under /engine-rest/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "DISABLE_ERRORS_AND_WARNINGS": True,
    # tests/rest/test_openapi.py checks the document; no schema generation inside `check --deploy`.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
}

# --- Job executor on django-q2 ---------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_TIMEOUT = env_int("Q_TIMEOUT", 300)
Q_CLUSTER = {
    "name": os.environ.get("Q_CLUSTER_NAME", "cockpit"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 60,  # django-q2 requires retry > timeout
    "max_attempts": 1,  # a lost task is recovered by the job sweep, not by q2 replays
    "save_limit": -1,  # job rows and the job log are the record; q2 keeps no success rows
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.2,
    "guard_cycle": 0.5,
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

ENGINE = {
    # A job's lock outlives the q2 timeout, so a lock only expires when its worker is gone.
    "JOB_LOCK_SECONDS": env_int("JOB_LOCK_SECONDS", Q_TIMEOUT + 30),
    # A due job enqueued this long ago and still not locked is considered a lost wake-up.
    "JOB_REENQUEUE_SECONDS": env_int("JOB_REENQUEUE_SECONDS", 60),
    "JOB_SWEEP_MINUTES": env_int("JOB_SWEEP_MINUTES", 1),
    "DEFAULT_JOB_RETRIES": env_int("DEFAULT_JOB_RETRIES", 3),
    # `manage.py workers` restarts its q2 cluster when a task waited this long for an idle worker
    # that never took it (a worker killed while waiting for a task wedges the queue), or when the
    # cluster stopped reporting this long. Twice SQLite's busy timeout: a slow guard loop is no wedge.
    "WORKER_STALL_SECONDS": env_int("WORKER_STALL_SECONDS", 60),
    "ENQUEUE_JOBS": env_bool("ENGINE_ENQUEUE_JOBS", True),
    # Extra modules that register job handlers when the engine starts (plugins, test handlers).
    "JOB_HANDLER_MODULES": [m for m in os.environ.get("ENGINE_JOB_HANDLER_MODULES", "").split(",") if m],
}

# Batch defaults (Camunda's names). Chosen by bench/: see README "Batch defaults". An operation may
# declare its own (batches/operations: invocations_per_job, jobs_per_seed), and any registered type is
# overridden by BATCH_JOBS_PER_SEED_<TYPE> / BATCH_INVOCATIONS_PER_JOB_<TYPE> (type upper-cased, - as _),
# e.g. BATCH_INVOCATIONS_PER_JOB_INSTANCE_MODIFICATION=20: read here by pattern, so no list of types.
PER_TYPE_VARIABLE = re.compile(r"BATCH_(JOBS_PER_SEED|INVOCATIONS_PER_JOB)_([A-Z0-9_]+)")


def per_type_overrides(environ) -> dict[str, dict[str, int]]:
    """{batch type: {"JOBS_PER_SEED"|"INVOCATIONS_PER_JOB": n}} from the environment."""
    overrides: dict[str, dict[str, int]] = {}
    for name in sorted(environ):
        match = PER_TYPE_VARIABLE.fullmatch(name)
        if match and environ[name] != "":
            batch_type = match.group(2).lower().replace("_", "-")
            overrides.setdefault(batch_type, {})[match.group(1)] = env_int(name, 0)
    return overrides


BATCH = {
    "JOBS_PER_SEED": env_int("BATCH_JOBS_PER_SEED", 100),
    "INVOCATIONS_PER_JOB": env_int("BATCH_INVOCATIONS_PER_JOB", 5000),
    "POLL_SECONDS": env_int("BATCH_POLL_SECONDS", 30),
    "PER_TYPE": per_type_overrides(os.environ),
}

# The synchronous forms of many-instance operations (POST /migration/execute,
# /process-definition/{id}/restart) act on at most this many instances; more is a 400 naming the async form.
SYNC_MAX_INSTANCES = env_int("SYNC_MAX_INSTANCES", 1000)
# Cockpit migrates a confirmed selection of at most this many instances at once (POST /migration/execute,
# all or none) instead of creating a batch.
MIGRATION_SYNC_THRESHOLD = env_int("MIGRATION_SYNC_THRESHOLD", 100)

# The wizard (README "Cockpit"): a destructive batch over this many targets, selected by query, asks
# the operator to type the number before Execute; a confirmed selection expires after these hours.
BATCH_TYPED_CONFIRMATION_THRESHOLD = env_int("BATCH_TYPED_CONFIRMATION_THRESHOLD", 1000)
WIZARD_CONFIRMATION_HOURS = env_int("WIZARD_CONFIRMATION_HOURS", 24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
