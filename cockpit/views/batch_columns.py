"""The batch lists' sortable columns (?sort=, ?ended_sort=) and the users' full names shown in them."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import F, FloatField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Greatest
from django.http import HttpRequest

from batches.models import Batch, HistoricBatch

# Sortable columns of the two tables: ?sort= (running) and ?ended_sort= (ended), "-" for descending.
RUNNING_SORTS = {"id": "id", "type": "type", "user": "create_user_id", "start": "start_time", "progress": "progress"}
ENDED_SORTS = {**RUNNING_SORTS, "end": "end_time"}
SORT_ERROR = "Sort by one of {columns}, with a leading - for descending."


def done_ratio(prefix: str = "") -> Cast:
    """(succeeded + skipped + failed) / total items, from the historic batch's live counters."""
    done = sum((Coalesce(F(f"{prefix}items_{name}"), 0) for name in ("succeeded", "skipped", "failed")), Value(0))
    return Cast(done, FloatField()) / Cast(Greatest(F(f"{prefix}total_items"), 1), FloatField())


def sorted_by(queryset: QuerySet, raw: str, columns: dict[str, str], default: str) -> QuerySet | None:
    key = raw or default
    field = columns.get(key.removeprefix("-"))
    if field is None:
        return None
    if field == "progress":
        if queryset.model is Batch:
            ratio = HistoricBatch.objects.filter(id=OuterRef("id")).annotate(r=done_ratio()).values("r")[:1]
            queryset = queryset.annotate(progress=Subquery(ratio, output_field=FloatField()))
        else:
            queryset = queryset.annotate(progress=done_ratio())
    return queryset.order_by(f"-{field}" if key.startswith("-") else field, "id")


def sort_links(request: HttpRequest, name: str, page_name: str, columns: dict[str, str], default: str) -> dict[str, dict]:
    """Per column: the URL sorting by it (flipping the direction when it is the current column), and its state."""
    current = request.GET.get(name) or default
    links = {}
    for column in columns:
        params = request.GET.copy()
        params.pop(page_name, None)
        params[name] = f"-{column}" if current == column else column
        direction = "ascending" if current == column else "descending" if current == f"-{column}" else ""
        links[column] = {"url": f"?{params.urlencode()}", "direction": direction}
    return links


def user_names(usernames) -> dict[str, str]:
    """username → the user's full name, or the username when the user has none (or no longer exists)."""
    wanted = {u for u in usernames if u}
    names = {u: u for u in wanted}
    for user in get_user_model().objects.filter(username__in=wanted).only("username", "first_name", "last_name"):
        names[user.get_username()] = user.get_full_name() or user.get_username()
    return names
