"""Settings, read only from environment variables with safe defaults (see README)."""
from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

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
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Content-Security-Policy on every response (Django's own CSP support). Scripts only from our static
# files: no inline script, no eval (tests/browser/test_csp.py walks every page and fails on any
# violation). Styles allow inline attributes: bpmn-js positions its SVG and overlays with style
# attributes, and progress bars set their width; a style attribute cannot run code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

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
if _db["ENGINE"] == "django.db.backends.postgresql":
    _db["ENGINE"] = "engine.backends.postgresql"  # Django's, without the LIKE index on id columns
    if not env_bool("DATABASE_JIT", False):
        # PostgreSQL compiles a plan with LLVM once its estimated cost passes jit_above_cost. Its
        # estimates for correlated subqueries are high, so short statements paid for it: the batch
        # statistics of 1,000 running batches spent 22 ms of its 34 ms compiling (bench/RESULTS.md,
        # seventh session). This product runs short statements; DATABASE_JIT=true turns it back on.
        options = _db.setdefault("OPTIONS", {})
        if "jit" not in options.get("options", ""):
            options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# GET /metrics (Prometheus, cockpit/views/metrics.py): with this bearer token, or from these networks.
METRICS = {
    "TOKEN": os.environ.get("METRICS_TOKEN", ""),
    "ALLOWED_NETWORKS": [
        ipaddress.ip_network(n.strip())
        for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",")
        if n.strip()
    ],
}
# Failed logins (form, admin, HTTP Basic) lock out the username for LOCKOUT_SECONDS after FAILURES
# failures within WINDOW_SECONDS, and the client address after FAILURES x CLIENT_FACTOR (cockpit/throttle.py).
AUTHENTICATION_BACKENDS = ["cockpit.throttle.ThrottledModelBackend"]
LOGIN_THROTTLE = {
    "FAILURES": env_int("LOGIN_FAILURE_LIMIT", 5),
    "WINDOW_SECONDS": env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
    "LOCKOUT_SECONDS": env_int("LOGIN_LOCKOUT_SECONDS", 900),
    "CLIENT_FACTOR": 4,
}
CACHES = {
    # Per process: verified HTTP Basic credentials (cockpit/auth.py).
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Shared by every process of a node (Redis: by every node): failed-login counts.
    "throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"],
         "KEY_PREFIX": "cockpit-throttle"}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "throttle")}
    ),
}
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
# How long a verified HTTP Basic username/password stays verified (0: hash the password on every call).
BASIC_AUTH_CACHE_SECONDS = env_int("BASIC_AUTH_CACHE_SECONDS", 300)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # HTTP Basic with a short cache of verified credentials, API tokens, the Cockpit's session (cockpit/auth.py).
        "cockpit.auth.CachedBasicAuthentication",
        "cockpit.auth.ApiTokenAuthentication",
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
    # How often an idle ORM-broker cluster asks the database for tasks (Redis blocks instead). Each
    # batch passes seed -> execution -> monitor jobs, so this bounds small-batch latency:
    # 0.2 s gave 10-instance batches 400 ms on SQLite, 0.05 s gives 105 ms for 2% of a core idle
    # (bench/small_batches.py).
    "poll": float(os.environ.get("Q_POLL_SECONDS", "0.05")),
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
    # A worker takes the due job of the highest priority first (Camunda's jobExecutorAcquireByPriority,
    # which is off there by default; on here, where every job has priority 0 unless someone sets one).
    "ACQUIRE_BY_PRIORITY": env_bool("JOB_ACQUIRE_BY_PRIORITY", True),
    # Extra modules that register job handlers when the engine starts (plugins, test handlers).
    "JOB_HANDLER_MODULES": [m for m in os.environ.get("ENGINE_JOB_HANDLER_MODULES", "").split(",") if m],
    # Fair shares (engine.services.jobs): jobs registered with a share (batch execution jobs) yield to
    # the engine's own jobs, stay within their cap (BATCH["MAX_RUNNING_JOBS"]) and take turns between
    # batches. false: they are taken first come, first served like any job.
    "FAIR_SHARES": env_bool("JOB_FAIR_SHARES", True),
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
    # Camunda's batchJobPriority: the priority of seed, monitor and execution jobs (unless their job
    # definition has an overriding priority).
    "JOB_PRIORITY": env_int("BATCH_JOB_PRIORITY", 0),
    # At most this many batch execution jobs run at once across all nodes (0: no cap), so workers stay
    # free for the engine's own jobs (engine.services.jobs, "fair shares"), e.g. Q_WORKERS - 1 on one node. A
    # worker killed in a batch job holds its slot until the job's lock expires (JOB_LOCK_SECONDS).
    "MAX_RUNNING_JOBS": env_int("BATCH_MAX_RUNNING_JOBS", 0),
    "PER_TYPE": per_type_overrides(os.environ),
    # Batch types whose creation needs a reason (a 400 "reason: …" without one): comma-separated types,
    # e.g. the destructive ones "instance-deletion,historic-instance-deletion,instance-modification,
    # instance-migration". Empty by default: a Camunda client sends no reason, and must work unchanged.
    "REQUIRE_REASON": tuple(t.strip() for t in os.environ.get("BATCH_REQUIRE_REASON", "").split(",") if t.strip()),
}

# Throttled batches (batches.pacing): an execution job works about this many seconds of its batch's
# rate per slice (at least one item), reserving each slice on the batch's shared timeline.
BATCH["PACING_SLICE_SECONDS"] = float(os.environ.get("BATCH_PACING_SLICE_SECONDS") or 1.0)
# Fair shares (engine.services.jobs): an execution job whose range is longer works it in slices of this
# many items (doubling while nobody waits) and, between slices, gives its worker to a process job (or
# another batch's seed) that waits, continuing later from where it stopped. 0: each job works its
# whole range at once.
BATCH["YIELD_SLICE_ITEMS"] = env_int("BATCH_YIELD_SLICE_ITEMS", 500)

# History removal time and cleanup, Camunda's engine settings under their names (README "Removal time and
# history cleanup"). A time to live is days, as an integer or ISO-8601 "P<n>D"; a window time "HH:mm" or
# "HH:mm+hhmm" (TIME_ZONE when no offset); a start equal to the end means the whole day.
HISTORY_TTL_PATTERN = re.compile(r"^(P\d+D|\+?\d+)$")
HISTORY_WINDOW_TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d([+-]\d{4})?$")


def _history_setting(name: str, pattern: re.Pattern, default: str = "") -> str:
    value = os.environ.get(name, default).strip()
    if value and not pattern.match(value):
        raise ImproperlyConfigured(f"{name}: invalid value {value!r}")
    return value


def batch_ttl_overrides(raw: str) -> dict[str, str]:
    """BATCH_OPERATIONS_FOR_HISTORY_CLEANUP: "instance-deletion=P5D,instance-migration=10" (Camunda's map)."""
    result: dict[str, str] = {}
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        batch_type, _, ttl = part.partition("=")
        if not batch_type.strip() or not HISTORY_TTL_PATTERN.match(ttl.strip()):
            raise ImproperlyConfigured(f"BATCH_OPERATIONS_FOR_HISTORY_CLEANUP: invalid entry {part!r}")
        result[batch_type.strip()] = ttl.strip()
    return result


HISTORY = {
    # end | start | none: when (and whether) history rows get their removal time (Camunda's historyRemovalTimeStrategy).
    "REMOVAL_TIME_STRATEGY": os.environ.get("HISTORY_REMOVAL_TIME_STRATEGY", "end").strip() or "end",
    "CLEANUP_ENABLED": env_bool("HISTORY_CLEANUP_ENABLED", True),
    "CLEANUP_BATCH_SIZE": env_int("HISTORY_CLEANUP_BATCH_SIZE", 500),
    "CLEANUP_BATCH_WINDOW_START_TIME": _history_setting("HISTORY_CLEANUP_BATCH_WINDOW_START_TIME", HISTORY_WINDOW_TIME_PATTERN),
    "CLEANUP_BATCH_WINDOW_END_TIME": _history_setting("HISTORY_CLEANUP_BATCH_WINDOW_END_TIME", HISTORY_WINDOW_TIME_PATTERN),
    "BATCH_OPERATION_HISTORY_TIME_TO_LIVE": _history_setting("BATCH_OPERATION_HISTORY_TIME_TO_LIVE", HISTORY_TTL_PATTERN),
    "BATCH_OPERATIONS_FOR_HISTORY_CLEANUP": batch_ttl_overrides(os.environ.get("BATCH_OPERATIONS_FOR_HISTORY_CLEANUP", "")),
    "REMOVAL_TIME_UPDATE_CHUNK_SIZE": env_int("REMOVAL_TIME_UPDATE_CHUNK_SIZE", 500),
}
if HISTORY["REMOVAL_TIME_STRATEGY"] not in ("end", "start", "none"):
    raise ImproperlyConfigured("HISTORY_REMOVAL_TIME_STRATEGY must be 'end', 'start' or 'none'")
if not 1 <= HISTORY["CLEANUP_BATCH_SIZE"] <= 500:  # Camunda's HistoryCleanupHandler.MAX_BATCH_SIZE
    raise ImproperlyConfigured("HISTORY_CLEANUP_BATCH_SIZE must be between 1 and 500")
if not 1 <= HISTORY["REMOVAL_TIME_UPDATE_CHUNK_SIZE"] <= 500:  # ProcessSetRemovalTimeJobHandler.MAX_CHUNK_SIZE
    raise ImproperlyConfigured("REMOVAL_TIME_UPDATE_CHUNK_SIZE must be between 1 and 500")
if bool(HISTORY["CLEANUP_BATCH_WINDOW_START_TIME"]) != bool(HISTORY["CLEANUP_BATCH_WINDOW_END_TIME"]):
    raise ImproperlyConfigured("Set both HISTORY_CLEANUP_BATCH_WINDOW_START_TIME and HISTORY_CLEANUP_BATCH_WINDOW_END_TIME, or neither")

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

# POST /external-task/fetchAndLock long polling: a request with asyncResponseTimeout is held at most this
# long (Camunda's own cap, 1,800,000 ms, is the 400 limit); below gunicorn's 30 s worker timeout, since a
# sync web worker is held meanwhile. While held, the database is read every interval for fetchable tasks.
EXTERNAL_TASK_LONG_POLL_MAX_SECONDS = env_int("EXTERNAL_TASK_LONG_POLL_MAX_SECONDS", 20)
EXTERNAL_TASK_LONG_POLL_INTERVAL_MS = env_int("EXTERNAL_TASK_LONG_POLL_INTERVAL_MS", 500)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Batch completion webhooks (batches/notifications.py, README "Webhooks"). WEBHOOK_DEFAULT_URL receives
# the events of every batch besides its own webhookUrl; WEBHOOK_SECRET signs them (HMAC-SHA256); a
# failed attempt is retried after BACKOFF * 2^(attempt-1) seconds, up to MAX_ATTEMPTS attempts.
WEBHOOKS = {
    "DEFAULT_URL": os.environ.get("WEBHOOK_DEFAULT_URL", "").strip(),
    "SECRET": os.environ.get("WEBHOOK_SECRET", ""),
    "TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10")),
    "MAX_ATTEMPTS": env_int("WEBHOOK_MAX_ATTEMPTS", 6),
    "BACKOFF_SECONDS": float(os.environ.get("WEBHOOK_BACKOFF_SECONDS", "30")),
    # Networks (CIDR, comma-separated) a webhook may reach besides public addresses: loopback, private
    # and link-local addresses are refused otherwise (batches.options.webhook_address_refused).
    # CA certificates (a PEM file) that https webhooks are verified against; default: certifi's bundle.
    "CA_BUNDLE": os.environ.get("WEBHOOK_CA_BUNDLE", "").strip(),
    "ALLOWED_NETWORKS": tuple(n.strip() for n in os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "").split(",") if n.strip()),
}
for _network in WEBHOOKS["ALLOWED_NETWORKS"]:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network: {_exc}") from None
