"""Login throttling: repeated failed logins for one user or from one client lock them out for a while.

Every way in counts — the Cockpit's login form, the admin's, HTTP Basic on the REST API — because
all of them end in django.contrib.auth.authenticate(): its `user_login_failed` signal counts the
failure under the username and under the client address, and ThrottledModelBackend refuses to
check any password while either is locked (so a locked account cannot be probed further, even
with the right password). A success clears the username's count.

The counts live in the "throttle" cache: Redis when REDIS_URL is set, else files under var/, so
every web process of a node sees the same counts. Lockouts are logged on "cockpit.security".
"""
from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.dispatch import receiver

log = logging.getLogger("cockpit.security")


def _cache():
    return caches["throttle"]


def _client(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def _keys(username: str | None, client: str | None) -> list[tuple[str, int]]:
    """(cache key, failure limit) per thing counted: the username, and the client address (a wider limit)."""
    limit = settings.LOGIN_THROTTLE["FAILURES"]
    keys = []
    if username:
        digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        keys.append((f"login:user:{digest}", limit))
    if client:
        keys.append((f"login:client:{client}", limit * settings.LOGIN_THROTTLE["CLIENT_FACTOR"]))
    return keys


def locked_for(username: str | None, request) -> int:
    """Seconds until the username and the client may try again (0: not locked)."""
    now = time.time()
    until = [_cache().get(f"{key}:locked") or 0 for key, _ in _keys(username, _client(request))]
    return max(0, int(max(until, default=0) - now + 0.999))


def _count_failure(username: str | None, request) -> None:
    config = settings.LOGIN_THROTTLE
    cache = _cache()
    for key, limit in _keys(username, _client(request)):
        cache.add(key, 0, config["WINDOW_SECONDS"])
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, config["WINDOW_SECONDS"])
            failures = 1
        if failures >= limit and not cache.get(f"{key}:locked"):
            cache.set(f"{key}:locked", time.time() + config["LOCKOUT_SECONDS"], config["LOCKOUT_SECONDS"])
            log.warning(
                "Login locked out for %s s after %s failed logins: %s (username %r, client %s)",
                config["LOCKOUT_SECONDS"], failures, key.split(":")[1], username, _client(request),
            )


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    if not settings.LOGIN_THROTTLE["FAILURES"]:
        return
    username = credentials.get("username")
    if locked_for(username, request):
        return  # refused while locked: not another guess
    _count_failure(username, request)


class ThrottledModelBackend(ModelBackend):
    """Django's username/password check, refused while the username or the client is locked out."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if settings.LOGIN_THROTTLE["FAILURES"] and locked_for(username, request):
            raise PermissionDenied("locked out")  # authenticate() stops here and reports a failure
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and username:
            for key, _ in _keys(username, None):
                _cache().delete(key)
        return user


def _locked_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return f"Too many failed logins. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


class ThrottledLoginForm(AuthenticationForm):
    """The Cockpit's login form: says so when the username or this client is locked out."""

    def clean(self):
        wait = locked_for(self.data.get("username"), self.request)
        if wait:
            raise ValidationError(_locked_message(wait), code="locked")
        return super().clean()


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        wait = locked_for(self.data.get("username"), self.request)
        if wait:
            raise ValidationError(_locked_message(wait), code="locked")
        return super().clean()
