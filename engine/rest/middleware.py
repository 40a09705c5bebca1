"""Refuse REST request bodies over the limit before anything reads them (DRF's parsers read the stream)."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.path.startswith("/engine-rest/") and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                message = f"Request body of {length} bytes is larger than the limit of {limit} bytes (MAX_REQUEST_BYTES)"
                return JsonResponse({"type": "InvalidRequestException", "message": message, "code": None}, status=413)
        return self.get_response(request)
