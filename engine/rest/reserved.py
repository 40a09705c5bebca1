"""Camunda's answer for paths it would not find, and the fixed Camunda paths we do not serve (yet).

A Camunda path with a fixed segment where we route an id (e.g. /process-instance/suspended
beside /process-instance/{id}) must never be read as an id: it gets the same JSON 404 as any unknown
path under /engine-rest/, as Camunda's JAX-RS runtime answers one (research §7, §11).
"""
from __future__ import annotations

from django.urls import path, re_path
from rest_framework.request import Request

from engine.errors import EngineError
from engine.rest.base import CamundaView

# Fixed-segment paths of Camunda 7 (7.20–7.24) that collide with our {id} routes and that we do not serve.
NOT_SERVED = [
    "process-instance/suspended",
    "history/process-instance/report",
]


class PathNotFound(EngineError):
    status = 404
    type_name = "NotFoundException"


class UnknownPath(CamundaView):
    """Every method of a path no resource serves: 404 {"type": "NotFoundException", "message": "HTTP 404 Not Found"}."""

    schema = None  # not part of the OpenAPI document

    def not_found(self, request: Request, *args, **kwargs):
        raise PathNotFound("HTTP 404 Not Found")

    get = post = put = patch = delete = head = options = not_found


reserved_urlpatterns = [path(route, UnknownPath.as_view()) for route in NOT_SERVED]
fallback_urlpatterns = [re_path(r"^.*$", UnknownPath.as_view())]
