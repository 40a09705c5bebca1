"""Shared pieces of the REST views: body parsing, permissions, visibility, query resources."""
from __future__ import annotations

from collections.abc import Callable

from django.db.models import Model, QuerySet
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.errors import BadUserRequest, NotAuthorized, NotFound
from engine.query import QuerySpec, page, paging
from engine.selectors import query, visible


def reject_nul(value: object, where: str) -> None:
    """No database stores NUL characters in text (PostgreSQL refuses them): a 400, not a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadUserRequest(f"{where} must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, where)
            reject_nul(item, f"{where}.{key}" if isinstance(key, str) else where)
    elif isinstance(value, list | tuple):
        for item in value:
            reject_nul(item, where)


class CamundaView(APIView):
    """An API view that answers errors with Camunda's body."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        for name, value in kwargs.items():
            reject_nul(value, "id" if name == "pk" else name)
        for name, values in request.query_params.lists():
            reject_nul(name, "query parameter name")
            reject_nul(values, name)

    def body(self, request: Request) -> dict:
        data = request.data
        if hasattr(data, "dict"):  # an empty or form body arrives as a QueryDict
            data = data.dict()
        if not isinstance(data, dict):
            raise BadUserRequest("Request body must be a JSON object")
        reject_nul(data, "request body")
        return data

    def require(self, request: Request, permission: str) -> None:
        if not request.user.has_perm(permission):
            raise NotAuthorized(
                f"The user with id '{request.user.get_username()}' does not have permission '{permission}'"
            )

    def visible_or_404(self, model: type[Model], pk: str, message: str, queryset: QuerySet | None = None) -> Model:
        rows = queryset if queryset is not None else visible(model, self.request.user)
        row = rows.filter(pk=pk).first()
        if row is None:
            raise NotFound(message)
        return row


def query_resource(
    name: str,
    spec: QuerySpec,
    model: type[Model],
    dto: Callable[[Model], dict],
    *,
    allow_post: bool = False,
    related: tuple[str, ...] = (),
) -> tuple[type[CamundaView], type[CamundaView]]:
    """The list view and the count view of a Camunda query resource."""

    def rows(view: CamundaView, request: Request, from_body: bool) -> QuerySet:
        data = view.body(request) if from_body else request.query_params
        return query(spec, model, request.user, data, from_body=from_body)

    class ListView(CamundaView):
        query_spec = spec

        def get(self, request: Request) -> Response:
            return self.respond(request, from_body=False)

        def respond(self, request: Request, *, from_body: bool) -> Response:
            first, size = paging(request.query_params)
            queryset = rows(self, request, from_body)
            if related:
                queryset = queryset.select_related(*related)
            return Response([dto(row) for row in page(queryset, first, size)])

    class CountView(CamundaView):
        query_spec = spec
        counts = True

        def get(self, request: Request) -> Response:
            return Response({"count": rows(self, request, False).count()})

    if allow_post:
        ListView.post = lambda self, request: self.respond(request, from_body=True)
        CountView.post = lambda self, request: Response({"count": rows(self, request, True).count()})
    ListView.__name__ = ListView.__qualname__ = f"{name}List"
    CountView.__name__ = CountView.__qualname__ = f"{name}Count"
    return ListView, CountView
