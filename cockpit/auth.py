"""REST authentication as Camunda clients use it: HTTP Basic on every call, or an API token.

Django verifies a password with PBKDF2 (about a third of a second here, on purpose), and Camunda
clients send HTTP Basic with every request. So a verified username/password pair is remembered
for a short while (BASIC_AUTH_CACHE_SECONDS) under a keyed hash of the pair (HMAC-SHA256 with the
secret key: the cache never holds a password or anything that can be checked offline without
the key). A hit still loads the user and only counts while the user is active and their stored
password hash is the one that was verified: changing the password (or deactivating the user)
invalidates every cached pair at once. The password hash itself is never weakened.

API tokens (cockpit.models.ApiToken) replace the password: `Authorization: Bearer <token>`, or
HTTP Basic with the username and the token as password, for clients that only speak Basic.
A token is 256 random bits; only its SHA-256 is stored, so checking one costs one indexed read.
"""
from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, BasicAuthentication, get_authorization_header

from cockpit.models import ApiToken
from cockpit.throttle import locked_for

CACHE_PREFIX = "cockpit:basic:"


def _keyed(*parts: str) -> str:
    message = "\0".join(parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _token_user(token: str, username: str | None = None):
    """The active user of a valid token (and of username, when the client named one), else None."""
    row = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_of(token)).first()
    if row is None or not row.usable(timezone.now()):
        return None
    if not row.user.is_active or (username is not None and row.user.get_username() != username):
        return None
    row.touch()
    return row.user


class CachedBasicAuthentication(BasicAuthentication):
    """HTTP Basic with a short-lived cache of verified credentials; an API token may stand for the password."""

    def authenticate_credentials(self, userid, password, request=None):
        wait = locked_for(userid, request)
        if wait:  # cockpit.throttle: too many failed logins for this user or from this client
            raise exceptions.Throttled(wait, detail=f"Too many failed logins; try again in {wait} seconds.")
        if password.startswith(ApiToken.PREFIX):
            user = _token_user(password, userid)
            if user is None:
                raise exceptions.AuthenticationFailed("Invalid username/token.")
            return (user, None)
        seconds = settings.BASIC_AUTH_CACHE_SECONDS
        if seconds <= 0:
            return super().authenticate_credentials(userid, password, request)
        key = CACHE_PREFIX + _keyed(userid, password)
        remembered = cache.get(key)
        if remembered is not None:
            user = get_user_model().objects.filter(pk=remembered["id"]).first()
            if user is not None and user.is_active and hmac.compare_digest(remembered["hash"], _keyed(user.password)):
                return (user, None)
            cache.delete(key)
        user, auth = super().authenticate_credentials(userid, password, request)
        cache.set(key, {"id": user.pk, "hash": _keyed(user.password)}, seconds)
        return (user, auth)


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid bearer header: expected 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid bearer header: the token is not ASCII.") from None
        user = _token_user(token)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired API token.")
        return (user, None)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
