"""The OpenAPI document covers every endpoint, and a bounded schemathesis run finds no server error."""
import base64

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import get_resolver
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from engine.rest.reserved import UnknownPath
from tests.conftest import PASSWORD, make_user
from tests.support.factories import deploy, start

app = get_wsgi_application()
schema = schemathesis.openapi.from_wsgi("/engine-rest/openapi.json", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_document_lists_every_engine_rest_route():
    documented = {path for path in schema.raw_schema["paths"]}
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "engine-rest/":
            for route in pattern.url_patterns:
                if getattr(route.callback, "view_class", None) is UnknownPath:
                    continue  # Camunda's 404 for paths we do not serve
                routes.add("/engine-rest/" + str(route.pattern).replace("<str:", "{").replace(">", "}"))
    normalise = lambda p: p.replace("{pk}", "{id}")  # noqa: E731
    assert {normalise(r) for r in routes} == {normalise(p) for p in documented}


@pytest.fixture
def fuzz_auth(db):
    # Django closes the connection after each WSGI request; the test's transaction must survive it
    # (Django's own test client does the same).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    user = make_user("fuzzy-admin", superuser=True)
    definition = deploy()
    start(definition, business_key="fuzz")
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    yield {"Authorization": f"Basic {token}"}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=12, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_request_produces_a_server_error_or_breaks_the_schema(case, fuzz_auth):
    case.call_and_validate(headers=fuzz_auth, checks=CHECKS)
