"""Settings for the test suite: the production settings with test-safe defaults."""
import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "false")
os.environ.setdefault("JOB_SWEEP_MINUTES", "1")
os.environ.setdefault("ENGINE_JOB_HANDLER_MODULES", "tests.support.handlers")
# One broker queue per test run, shared with the qcluster processes the tests start.
os.environ.setdefault("Q_CLUSTER_NAME", f"cockpit-test-{os.getpid()}")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# fetchAndLock holds a request at most this long (the OpenAPI fuzz test would wait 20 s per call).
os.environ.setdefault("EXTERNAL_TASK_LONG_POLL_MAX_SECONDS", "1")
# The tests' webhook receivers listen on loopback (refused by default: batches.options).
os.environ.setdefault("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns about a missing root)

# Failed-login counts per test process, emptied before each test (tests/conftest.py).
CACHES = {**CACHES, "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}}  # noqa: F405
