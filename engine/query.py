"""Camunda-style query parameters: typed parsing, filters, sorting and paging, for GET and POST."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, OrderBy, QuerySet

from engine.errors import BadUserRequest

DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")
SORT_PAIR_MESSAGE = "Only a single sorting parameter specified. sortBy and sortOrder required"
MAX_LIST_LENGTH = 100_000
MAX_INT = 2**31 - 1


def parse_date(value: object) -> datetime:
    if isinstance(value, str):
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
    raise ValueError(value)


def format_date(value: datetime | None) -> str | None:
    """Camunda's yyyy-MM-dd'T'HH:mm:ss.SSSZ, always in UTC (+0000)."""
    if value is None:
        return None
    from datetime import UTC

    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def invalid(name: str, raw: object) -> BadUserRequest:
    return BadUserRequest(f"Cannot set query parameter '{name}' to value '{raw}'")


def _to_str(name: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise invalid(name, raw)
    return raw


def _to_bool(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in {"true", "false"}:
        return raw.lower() == "true"
    raise invalid(name, raw)


def _to_int(name: str, raw: object) -> int:
    if isinstance(raw, bool):
        raise invalid(name, raw)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(name, raw) from None
    if value < 0 or value > MAX_INT:  # Camunda's parameters are Java Integers
        raise invalid(name, raw)
    return value


def _to_list(name: str, raw: object, from_body: bool) -> list[str]:
    if from_body and isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        items = [part for part in raw.split(",")]
    else:
        raise invalid(name, raw)
    if len(items) > MAX_LIST_LENGTH:
        raise BadUserRequest(f"{name} has more than {MAX_LIST_LENGTH} entries")
    for item in items:
        if item is None:
            raise BadUserRequest(f"{name} must not contain null values")
        if not isinstance(item, str):
            raise invalid(name, item)
    return items


CONVERTERS: dict[str, Callable[[str, object, bool], object]] = {
    "str": lambda n, r, b: _to_str(n, r),
    "list": _to_list,
    "bool": lambda n, r, b: _to_bool(n, r),
    "int": lambda n, r, b: _to_int(n, r),
    "date": lambda n, r, b: _date(n, r),
}


def _date(name: str, raw: object) -> datetime:
    try:
        return parse_date(raw)
    except ValueError:
        raise invalid(name, raw) from None


@dataclass(frozen=True)
class Param:
    kind: str
    # An ORM lookup ("business_key__contains") or a function (queryset, value) -> queryset.
    apply: str | Callable[[QuerySet, Any], QuerySet]


@dataclass(frozen=True)
class QuerySpec:
    params: dict[str, Param]
    sort_fields: dict[str, str]
    default_order: tuple[str, ...] = ("pk",)
    extra: set[str] = field(default_factory=set)

    def parse(self, data: Mapping, *, from_body: bool) -> dict[str, object]:
        """Typed values of the known parameters in data; unknown parameters are ignored."""
        values = {}
        for name, param in self.params.items():
            if name not in data:
                continue
            raw = data[name]
            if raw is None and from_body:
                continue
            values[name] = CONVERTERS[param.kind](name, raw, from_body)
        return values

    def filter(self, queryset: QuerySet, values: dict[str, object]) -> QuerySet:
        for name, value in values.items():
            apply = self.params[name].apply
            if isinstance(apply, str):
                queryset = queryset.filter(**{apply: value})
            else:
                queryset = apply(queryset, value)
        return queryset

    def ordering(self, data: Mapping, *, from_body: bool) -> list[OrderBy]:
        pairs: list[tuple[object, object]] = []
        if from_body and "sorting" in data and data["sorting"] is not None:
            sorting = data["sorting"]
            if not isinstance(sorting, list) or not all(isinstance(s, dict) for s in sorting):
                raise invalid("sorting", sorting)
            pairs = [(s.get("sortBy"), s.get("sortOrder")) for s in sorting]
        elif "sortBy" in data or "sortOrder" in data:
            pairs = [(data.get("sortBy"), data.get("sortOrder"))]
        order: list[OrderBy] = []
        used: set[str] = set()
        for sort_by, sort_order in pairs:
            if sort_by is None or sort_order is None:
                raise BadUserRequest(SORT_PAIR_MESSAGE)
            if not isinstance(sort_by, str) or sort_by not in self.sort_fields:
                raise invalid("sortBy", sort_by)
            if not isinstance(sort_order, str) or sort_order not in ("asc", "desc"):
                raise invalid("sortOrder", sort_order)
            column = self.sort_fields[sort_by]
            used.add(column)
            # Nulls count as the smallest value on every database (PostgreSQL's default differs).
            order.append(F(column).desc(nulls_last=True) if sort_order == "desc" else F(column).asc(nulls_first=True))
        return order + [F(f).asc() for f in self.default_order if f not in used]


def paging(data: Mapping) -> tuple[int, int | None]:
    """firstResult/maxResults from the query string (Camunda pages lists with query parameters)."""
    first = _to_int("firstResult", data["firstResult"]) if data.get("firstResult") not in (None, "") else 0
    size = _to_int("maxResults", data["maxResults"]) if data.get("maxResults") not in (None, "") else None
    return first, size


def page(queryset: QuerySet, first: int, size: int | None) -> QuerySet:
    if size is None:
        return queryset[first:]
    return queryset[first : first + size]
