"""Camunda's error body ({"type", "message", "code"}) for every error the API can raise."""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from engine.errors import EngineError

logger = logging.getLogger(__name__)


def error_response(
    status: int, type_name: str, message: str, headers: dict | None = None, extra: dict | None = None
) -> Response:
    return Response({"type": type_name, "message": message, "code": None, **(extra or {})}, status=status, headers=headers)


def drf_message(detail: object) -> str:
    if isinstance(detail, dict):
        return "; ".join(
            drf_message(value) if key == "non_field_errors" else f"{key}: {drf_message(value)}"
            for key, value in detail.items()
        )
    if isinstance(detail, list):
        return "; ".join(drf_message(item) for item in detail)
    return str(detail)


def camunda_exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, EngineError):
        # Some carry more than the message (a migration's validationReport).
        return error_response(exc.status, exc.type_name, str(exc), extra=getattr(exc, "extra", None))
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else None
        status = 401 if headers else 403
        return error_response(status, "AuthenticationException", str(exc.detail), headers)
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return error_response(403, "AuthorizationException", str(getattr(exc, "detail", exc) or "Forbidden"))
    if isinstance(exc, (drf.NotFound, Http404)):
        return error_response(404, "InvalidRequestException", str(getattr(exc, "detail", exc) or "Not found"))
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, "InvalidRequestException", f"Request body too large: {exc}")
    if isinstance(exc, SuspiciousOperation):
        return error_response(400, "InvalidRequestException", str(exc))
    if isinstance(exc, drf.ParseError):
        return error_response(400, "InvalidRequestException", f"Invalid request body: {exc.detail}")
    if isinstance(exc, drf.Throttled):  # cockpit.throttle: a locked-out login, with when to try again
        headers = {"Retry-After": str(exc.wait)} if exc.wait is not None else None
        return error_response(429, "AuthenticationException", str(exc.detail), headers)
    if isinstance(exc, drf.MethodNotAllowed):  # as Camunda's JAX-RS runtime answers a wrong method (research §7)
        return error_response(405, "NotAllowedException", "HTTP 405 Method Not Allowed")
    if isinstance(exc, drf.ValidationError):
        return error_response(400, "InvalidRequestException", drf_message(exc.detail))
    if isinstance(exc, drf.APIException):
        return error_response(exc.status_code, "RestException", drf_message(exc.detail))
    logger.exception("unexpected error in %s", context.get("view"))
    return error_response(500, "ProcessEngineException", f"Unexpected error: {type(exc).__name__}")
